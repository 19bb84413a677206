"""The batch planner: one option per order for a whole backlog, chosen with OR-Tools.

``plan(network, orders)`` re-plans a backlog of open orders. Its options are the router's:
for each order, the k cheapest options of the cost model under the full stock (the same
exact search, the same costs), plus the option the greedy router gave it, the option that
keeps it at its ``current_store``, and "nothing filled". The model picks one option per
order subject to the available stock of every (store, SKU) and the capacity of every store,
minimising the sum of the orders' costs (``move_penalty`` added to options that take
an order off its current store).

Why two solvers, both through OR-Tools: the model is a pure 0-1 program (one choice per order
and per line, knapsack rows for stock and capacity). CP-SAT takes the greedy plan as a hint,
improves it fast, keeps a complete feasible plan at every moment and is deterministic for a
seed with one worker (its limit is deterministic time). But on thin stock its single worker
stalls a few percent above the optimum, where an LP-based branch and bound (HiGHS, through
OR-Tools' MIP interface) proves the optimum of a 300-order component in about 30 s. So each
component gets CP-SAT, then HiGHS, then CP-SAT again if HiGHS did not finish (``_solve``).

Options and sourcing. An option fixes an order's stores (packages, transfers) and so its
cost; which of its stores a line's units come from is the solver's choice (any store of the
option holding the line at full stock, or none at ``unfilled_per_line``), as long as every
package and transfer carries a line. The listed options are the k cheapest *sets* of stores
in which every store holds some line, including sets where a store's lines are all held by
another store of the set too: with full stock they are never best, but when another order
takes that store's units they are the ones that still work (a test builds such a case).

Bounds. Every option not listed costs at least the k-th listed one (the search returns the
k cheapest, or says it did not finish), so the LP relaxation of the model with one more
column per order, "another option" at that cost and using nothing, bounds every plan of the
model; so does the sum of each order's cheapest option; and so does the Lagrangian bound
over every option, its prices found by column generation (``colgen.column_bound``; at
convergence it is the LP relaxation of every option). ``lower_bound`` is the largest (GLOP
solves the LPs), ``lower_bound_kind`` names it; ``gap = (objective - lower_bound) / objective``.

Decomposition: a (store, SKU) or a store's capacity is contended when the options of all
orders together could ask for more than there is. Orders whose best option touches nothing
contended take it without entering the solver; the rest split into components (orders
linked through a contended resource), solved apart, through ``executor`` when one is given. The plan is never worse than
greedy: each component keeps the greedy choice unless the solver found a cheaper one.

This module never reads files (io and cli do) and never changes the network.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .choices import (
    OptionTable,
    build_table,
    components,
    contention,
    piece_from_bulk,
    piece_from_options,
    stock_of,
    touches,
)
from .colgen import column_bound, option_floor
from .config import Config
from .csr import csr_take
from .errors import InputError, Problem
from .geo import morton_keys
from .io import PLAN_COLUMNS, check_plan_path, write_plan
from .milp import LinearModel, linear_model, solve
from .model import Network, Order, OrderBatch
from .options import (
    MAX_EXACT_LINES,
    Option,
    Package,
    cost_breakdown,
    delivery_reach,
    merge_lines,
    option_from_search,
    plan_rows,
    unfilled_reasons,
)
from .router import Router

# The solver's stages and their shares of the time limit: line sources fixed to the search's,
# then free where stock is short (see _solve)
STAGES = (("cp-sat", False, 0.3), ("mip", True, 0.5), ("cp-sat", True, 0.2))
# The planner's constants are measured choices; the measurements behind each are in
# benchmarks/README.md, "The planner's constants".
# The option search's budget per order (the router's is 2,000,000 nodes): the planner's "all
# subsets" lists grow fast with an order's lines, and an order that runs out keeps the options
# found (unproven: the bound then takes its cheapest as 0)
PLAN_NODE_LIMIT = 200_000
# A component's whole model above this many columns is left to CP-SAT: HiGHS would not prove
# it optimal in its share of the time, and building it costs seconds
MIP_MAX_COLUMNS = 200_000
# The share of the time limit the LP bounds may take (GLOP, time-limited)
LP_SHARE = 0.25
# A component of more orders than this gets no LP bound: GLOP's model alone takes longer to
# build than its share of the time
LP_MAX_ORDERS = 4000
# Column generation's rounds at most (colgen.column_bound): each is one priced search of the
# components' orders and one LP per component; it stops sooner when nothing is added (it
# converged) or the bound's share of the time limit (LP_SHARE) is spent
CG_ROUNDS = 400
# ... and its priced searches take at most this many search nodes per second of the bound's
# share of the limit (about a second of search here: 5-7 million nodes a second), so that the
# bound depends on the limit, not on the clock
CG_NODES_PER_SECOND = 5_000_000
# Components of more orders than this are solved a block of this many orders at a time
# (_solve_blocks), each block in BLOCK_STAGES with CP-SAT's presolve off; HiGHS takes part
# only where a stage has at least MIP_MIN_TIME seconds
BLOCK = 800
BLOCK_STAGES = (("cp-sat", False, 1.0),)
# A block's solve has a fixed set-up cost whatever its limit; below this share of the limit
# per block only the blocks that could gain most are solved, each with at least this much
MIN_BLOCK_S = 0.5
MIP_MIN_TIME = 1.0
@dataclass
class Plan:
    """A plan: ``rows`` in the plan format (one per order line, orders in input
    order) and ``summary`` (objective, bound, gap, status, KPIs, timings, versions)."""

    rows: list[dict]
    summary: dict
    choices: list[Option] = field(repr=False, default_factory=list)

    def write(self, path) -> None:
        """CSV, Parquet or JSON Lines by the extension; a temporary file renamed into place
        (``io.write_plan``)."""
        write_plan(path, self.rows)


@dataclass
class _Model:
    """The optimal policy's model of a backlog: every order's options (``table``), the
    stock per resource and the capacity per store at the start, the short ones, and where
    each option came from (``sources[src]``: a BulkOptions, or a list of Option)."""

    table: OptionTable
    avail: np.ndarray
    cap: np.ndarray
    hot: np.ndarray
    hot_cap: np.ndarray
    sources: list
    pickup: np.ndarray
    promise: np.ndarray
    proven: np.ndarray  # per order: its option search finished (False beyond 64 SKUs or the budget)
    full: Router  # the router over the full stock the options were searched with (priced again by _bound)
    current: np.ndarray  # per order: its current store, or -1

    def option(self, row: int, cfg: Config) -> Option:
        """The ``Option`` of one row of the table."""
        src, ref = int(self.table.src[row]), int(self.table.ref[row])
        s = self.sources[src]
        if isinstance(s, list):
            return s[ref]
        i = int(np.searchsorted(self.table.opt_ptr, row, "right") - 1)
        n_lines = int(self.table.line_ptr[i + 1] - self.table.line_ptr[i])
        return option_from_search(s.found_one(ref), n_lines, int(self.pickup[i]), cfg, float(self.promise[i]))

    def sourcing(self, row: int, srcs: np.ndarray) -> dict:
        """{line: store or None} of row's slots under the plan's sources."""
        t = self.table
        a, b = int(t.l_ptr[row]), int(t.l_ptr[row + 1])
        return {int(ln): (int(t.h_store[s]) if s >= 0 else None) for ln, s in zip(t.l_line[a:b].tolist(),
                                                                                   srcs[a:b].tolist())}


def plan(network: Network, orders, config: Config | None = None, *, time_limit_s: float = 60.0, seed: int = 0,
         policy: str = "optimal", executor=None, workers: int = 1, k: int = 8, k_avoid: int = 3,
         search_threads: int = 1, threads: int | None = None, progress=None) -> Plan:
    """Re-plan a backlog. orders: an OrderBatch, a list of Order, or dicts in the order
    format. policy "greedy": the router in file order. "optimal": OR-Tools from the greedy
    hint, never worse than greedy. time_limit_s bounds the solver over all components (each
    its share by size), split between its stages (``_solve``): CP-SAT's in its deterministic
    time (``milp.DET_PER_SECOND`` units per second), HiGHS's in wall seconds, its answer
    taken only when proven optimal (so the plan does not depend on the clock, only on
    whether HiGHS finished);
    executor: a concurrent.futures Executor solving components at once (in-process when
    None; the plan does not depend on it); workers: CP-SAT search workers per component
    (1: the same seed gives the same plan). k: listed options per order (the cheapest under
    the full stock); k_avoid: options per order that avoid all short stock, added for orders
    that compete for it. search_threads: threads for the option search (the kernel runs
    without the GIL; the options do not depend on it). threads: cores the in-process solve
    may use for a large component's blocks (None: the machine's, over ``workers``; give 1
    for a task on a cluster worker of one thread; the plan does not depend on it). progress: called as
    progress(stage, done, total) as the stages advance (greedy, options, solve)."""
    if policy not in ("optimal", "greedy"):
        raise ValueError(f"policy must be 'optimal' or 'greedy', got {policy!r}")
    cfg = config or network.config
    clock = _StageClock()
    todo, locked, current = _orders_of(network, orders)
    n = len(todo)
    tick = progress or (lambda *a: None)
    optimise = policy == "optimal" and n > 0
    # the option search under the full stock needs nothing of greedy: on a thread beside it
    # (unless this plan has one core: then the two would only take turns)
    first = _search_beside(network, cfg, todo, locked, k, search_threads) if optimise and threads != 1 else None
    with clock("greedy"):
        greedy_opts, greedy_seen = _greedy(network, cfg, todo, locked, current, tick)
    choice = list(greedy_opts)
    solved = _Solved.greedy()
    md = None
    if optimise:
        with clock("options"):
            md = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid, tick, search_threads,
                        first.result() if first is not None else None)
        with clock("decompose"):
            dec = _decompose(md)
        with clock("bound"):
            bounds = _bound(md, dec, cfg, time_limit_s, todo, search_threads)
        with clock("solve"):
            solved = _solve_components(md, dec, bounds, choice, todo, cfg, time_limit_s=time_limit_s, seed=seed,
                                       executor=executor, workers=workers, threads=threads, tick=tick)
    with clock("rows"):
        rows_out = _assemble_rows(todo, choice, current, locked, md, greedy_seen, network, cfg)
    timings = clock.finish()
    choice_costs = [_cost_with_move(c, o_cur, cfg) for c, o_cur in zip(choice, current)]
    greedy_cost = sum(_cost_with_move(g, c, cfg) for g, c in zip(greedy_opts, current))
    summary = _summary(todo, rows_out, choice, choice_costs, current, cfg, solved.bound, solved.model_bound,
                       solved.status, greedy_cost, timings, solved.n_solver, solved.n_components, policy,
                       solved.largest, solved.bound_kind)
    return Plan(rows_out, summary, choice)


# --- plan()'s stages --------------------------------------------------------------------------
class _StageClock:
    """Wall seconds per stage of a plan (the summary's ``timings``), and the total."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = time.perf_counter() - t

    def finish(self) -> dict[str, float]:
        self.timings["total"] = time.perf_counter() - self.t0
        return self.timings


def _search_beside(network: Network, cfg: Config, todo, locked, k: int, search_threads: int):
    # the option search started on a thread of its own; its future
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    first = pool.submit(_search, network, cfg, todo, locked, k, search_threads)
    pool.shutdown(wait=False)
    return first


@dataclass
class _Decomposition:
    """The components of a model, the orders fixed to their best option, and the stock and
    capacity the fixed and locked orders leave."""

    comps: list  # per component: its orders
    fixed: np.ndarray  # the orders that take their best option without the solver
    avail: np.ndarray  # per resource: the units left for the components
    cap: np.ndarray  # per store: the capacity left for them
    subs: list  # per component: tb.subset(comp) (table, rows, slots, stores, resources)


def _decompose(md: _Model) -> _Decomposition:
    tb = md.table
    best = tb.opt_ptr[:-1]
    comps, fixed = components(tb, md.hot, md.hot_cap)
    # what the fixed and locked orders take is gone before the components are solved:
    # locked orders keep their store and take their stock and capacity first, even past a
    # store's capacity (it then has none left), so no component is infeasible for them
    rows, srcs = tb.own_plan(best[fixed])
    used_r, used_c = tb.usage(rows, srcs)
    avail = np.maximum(md.avail - used_r, 0)
    cap = np.maximum(md.cap - np.bincount(used_c, minlength=len(md.cap)), 0)
    return _Decomposition(comps, fixed, avail, cap, [tb.subset(c) for c in comps])


@dataclass
class _Bounds:
    bound: float  # a lower bound on every plan of the whole option space
    fixed_cost: float  # what the fixed orders pay in the plan (the model bound starts there)
    lp_time: list  # per component: the seconds its LP may take
    kind: str = "cheapest"  # which bound is the best: cheapest, lp, lagrangian


def _bound(md: _Model, dec: _Decomposition, cfg: Config, time_limit_s: float, todo=None,
           threads: int = 1) -> _Bounds:
    # two bounds for the whole option space (the module's docstring): each order's cheapest
    # option, summed; and the LP relaxation of the model, which splits like the model: an
    # order whose best option touches no short resource takes it in the LP too, and
    # components share no short resource, so each has its own (smaller) LP
    tb, fixed = md.table, dec.fixed
    best = tb.opt_ptr[:-1]
    cheapest = np.minimum(tb.other, tb.cost[best])
    bound = float(cheapest.sum())
    # a fixed order pays its best listed option in the plan; in the bound, its cheapest
    # possible (below the best listed when its search did not finish); a locked order pays
    # its stay option in every plan
    fixed_cost = float(tb.cost[best[fixed]].sum())
    fixed_bound = float(np.where(tb.locked[fixed], tb.cost[best[fixed]], cheapest[fixed]).sum())
    # GLOP gets a quarter of the time limit, shared by size; a component whose LP does not
    # finish in its share has no bound
    in_comps = max(1, sum(len(c) for c in dec.comps))
    lp_time = [LP_SHARE * time_limit_s * len(c) / in_comps for c in dec.comps]
    # (the stock and capacity the fixed and locked orders leave: a fixed order's option
    # touches no short resource, and a locked order's takes what it takes in every plan)
    c_unf = cfg.cost.unfilled_per_line
    comp_lp = [_lp_bound(sub, dec.avail[res], dec.cap, md.hot[res], c_unf, True, lp_time[c])
               if len(comp) <= LP_MAX_ORDERS else -math.inf
               for c, (comp, (sub, _, _, _, res)) in enumerate(zip(dec.comps, dec.subs))]
    full_bound = fixed_bound + sum(comp_lp)
    kind = "cheapest"
    if math.isfinite(full_bound) and full_bound > bound:
        bound, kind = full_bound, "lp"
    if todo is not None and dec.comps:
        # over every option: the Lagrangian bound, its prices from column generation
        cb = column_bound(md.full, tb, dec.comps, fixed, todo, cheapest, md.proven, c_unf=c_unf,
                          move_penalty=cfg.cost.move_penalty, current=md.current, lp_max_orders=LP_MAX_ORDERS,
                          rounds=CG_ROUNDS, node_budget=int(CG_NODES_PER_SECOND * LP_SHARE * time_limit_s),
                          time_budget_s=LP_SHARE * time_limit_s, threads=threads,
                          node_limit=PLAN_NODE_LIMIT)
        if cb.value > bound:
            bound, kind = cb.value, "lp-every-option" if cb.converged else "lagrangian"
    return _Bounds(bound, fixed_cost, lp_time, kind)


@dataclass
class _Solved:
    """What the solve stage found: the status, both bounds and the sizes."""

    status: str
    bound: float | None
    model_bound: float | None
    n_solver: int = 0
    n_components: int = 0
    largest: int = 0
    bound_kind: str | None = None

    @classmethod
    def greedy(cls) -> _Solved:
        return cls("greedy", None, None)


def _solve_components(md: _Model, dec: _Decomposition, bounds: _Bounds, choice: list, todo, cfg: Config, *,
                      time_limit_s: float, seed: int, executor, workers: int, threads: int | None,
                      tick) -> _Solved:
    # fixed orders take their best option; each component is solved (through the executor
    # when one is given: only plain arrays cross to it) and its orders' choices replaced
    tb, comps, subs = md.table, dec.comps, dec.subs
    best = tb.opt_ptr[:-1]
    c_unf = cfg.cost.unfilled_per_line
    for i in dec.fixed.tolist():
        choice[i] = md.option(int(best[i]), cfg)
    zkey = morton_keys([o.lat for o in todo], [o.lon for o in todo])
    n_solver = sum(len(c) for c in comps)
    # the bound on the model (the listed options only), added as the components are solved:
    # the solvers' own (HiGHS's is at least the LP relaxation's), else the LP without the
    # "other option" columns
    model_bound = bounds.fixed_cost
    statuses = []
    tasks: list[Any] = []  # futures (an executor), else (function, arguments)
    for comp, (sub, _, _, _, res) in zip(comps, subs):
        # each component's share of the limit by its size, not by the clock, so that the
        # same seed gives the same plan
        args = (sub, dec.avail[res], dec.cap, md.hot[res], time_limit_s * len(comp) / max(1, n_solver), seed,
                workers, c_unf)
        # in-process, a large component's blocks use both cores where they share nothing
        fn = _solve if len(comp) <= BLOCK else partial(
            _solve_blocks, place=zkey[comp],
            parallel=1 if executor is not None else max(1, (threads or os.cpu_count() or 1) // max(1, workers)))
        tasks.append(executor.submit(fn, *args) if executor is not None else (fn, args))
    for c, (comp, task) in enumerate(zip(comps, tasks)):
        tick("solve", c, len(comps))
        pick, lsrc, st, cp_bound = task.result() if executor is not None else task[0](*task[1])
        sub, orows, slots, hs, res = subs[c]
        statuses.append(st)
        if not math.isfinite(cp_bound) and len(comp) <= LP_MAX_ORDERS:
            cp_bound = _lp_bound(sub, dec.avail[res], dec.cap, md.hot[res], c_unf, False, bounds.lp_time[c])
        model_bound += cp_bound if math.isfinite(cp_bound) else -math.inf
        g_src = np.full(len(tb.l_line), -2, np.int64)
        g_src[slots] = np.where(lsrc >= 0, hs[np.maximum(lsrc, 0)], lsrc)
        for i, row in zip(comp.tolist(), orows[pick].tolist()):
            choice[i] = _resourced(md.option(row, cfg), md.sourcing(row, g_src), todo[i].promise_min, cfg)
    tick("solve", len(comps), len(comps))
    # what was proven: the components' statuses, and for the orders fixed to their best
    # option, whether their option search finished (else the plan is feasible, not proven)
    unproven = (~md.proven & ~tb.locked).any()
    status = worst_status(statuses + (["FEASIBLE"] if unproven else []))
    return _Solved(status, bounds.bound, model_bound, n_solver, len(comps), max((len(c) for c in comps), default=0),
                   bounds.kind)


def _assemble_rows(todo, choice, current, locked, md: _Model | None, greedy_seen, network: Network,
                   cfg: Config) -> list[dict]:
    # the plan rows, order by order; an order with an unfilled line carries the lines its
    # best option fills under the whole stock and the lines any of its options holds
    # (greedy's: what its search examined), for its reasons
    tb = md.table if md is not None else None
    rows_out = []
    for i, o in enumerate(todo):
        had, seen = 0, 0
        if choice[i].unfilled:
            had, seen = _lines_held(tb, i) if tb is not None else (0, greedy_seen[i])
        rows_out.extend(_rows_of(o, choice[i], current[i], network, cfg, bool(locked[i]), had, seen))
    return rows_out


def model_options(network: Network, orders, config: Config | None = None, *, k: int = 8,
                  k_avoid: int = 3) -> list[list[Option]]:
    """Per order, the options the optimal policy chooses among (its model): the k cheapest
    under the full stock, the k_avoid cheapest avoiding short stock (for orders that compete
    for it), the greedy router's, the one keeping the current store, nothing."""
    cfg = config or network.config
    todo, locked, current = _orders_of(network, orders)
    greedy_opts, _ = _greedy(network, cfg, todo, locked, current, lambda *a: None)
    md = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid, lambda *a: None)
    p = md.table.opt_ptr
    return [[md.option(r, cfg) for r in range(int(p[i]), int(p[i + 1]))] for i in range(len(todo))]


def export_model(network: Network, orders, config: Config | None = None, *, k: int = 8,
                 k_avoid: int = 3) -> tuple[LinearModel, float]:
    """The optimal policy's whole model as one 0-1 program, for checking the planner with
    another solver: (the model of every order that enters the solver, with every line's
    source free where stock is short; the cost of the orders fixed to their best option).
    Its optimum plus that cost is the best plan of the model."""
    cfg = config or network.config
    todo, locked, current = _orders_of(network, orders)
    greedy_opts, _ = _greedy(network, cfg, todo, locked, current, lambda *a: None)
    md = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid, lambda *a: None)
    tb = md.table
    comps, fixed = components(tb, md.hot, md.hot_cap)
    best = tb.opt_ptr[:-1]
    used_r, used_c = tb.usage(*tb.own_plan(best[fixed]))
    inside = np.concatenate(comps) if comps else np.zeros(0, np.int64)
    sub, _, _, _, res = tb.subset(inside)
    lm = linear_model(sub, np.maximum(md.avail - used_r, 0)[res],
                      np.maximum(md.cap - np.bincount(used_c, minlength=len(md.cap)), 0),
                      md.hot[res], True, cfg.cost.unfilled_per_line)
    return lm, float(tb.cost[best[fixed]].sum())


def _search(network: Network, cfg: Config, todo, locked, k: int, threads: int = 1):
    """The bulk option search under the full stock, for every order not locked: (its
    router, the BulkOptions). It needs nothing of the greedy pass, so ``plan`` runs it on a
    thread while the greedy pass runs (the kernel releases the GIL)."""
    full = Router(network, cfg)
    free = np.flatnonzero(~np.asarray(locked, bool))
    return full, full.options_bulk([todo[i] for i in free.tolist()], k, all_subsets=True, threads=threads,
                                   node_limit=PLAN_NODE_LIMIT)


def _model(network: Network, cfg: Config, todo, greedy_opts, current, locked, k: int, k_avoid: int, tick,
           threads: int = 1, searched=None) -> _Model:
    """Every order's options (one bulk kernel search per city, ``searched`` when already
    run by ``_search``; then the ways around short stock), the stock and capacity at the
    start, and the short resources."""
    n = len(todo)
    tick("options", 0, n)
    full, bulk = searched if searched is not None else _search(network, cfg, todo, locked, k, threads)
    free = np.flatnonzero(~np.asarray(locked, bool))
    tick("options", n // 2, n)
    # every order's merged lines (the bulk's, where it searched the order)
    codes_l, qty_l = [], []
    pos = np.full(n, -1, np.int64)
    pos[free] = np.arange(len(free))
    for i, o in enumerate(todo):
        p = int(pos[i])
        if p >= 0 and bulk.searched[p]:
            codes_l.append(bulk.codes(p))
            qty_l.append(bulk.qty(p))
        else:
            skus, q, _ = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
            codes_l.append(full.line_codes(skus).astype(np.int64))
            qty_l.append(np.array(q, np.int64))
    n_lines = np.array([len(c) for c in codes_l], np.int64)
    line_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(n_lines, out=line_ptr[1:])
    line_code = np.concatenate(codes_l).astype(np.int64) if n else np.zeros(0, np.int64)
    line_qty = np.concatenate(qty_l).astype(np.int64) if n else np.zeros(0, np.int64)
    pickup = np.full(n, -1, np.int64)
    pickup[free] = bulk.pickup
    promise = np.array([o.promise_min for o in todo], np.float64)

    flat = bulk.flat(k)
    flat["order"] = free[flat["order"].astype(np.int64)]
    pieces = [piece_from_bulk(flat, pickup, 0, 0)]
    # the greedy router's option (one per order, in order), then the one keeping the current
    # store and "nothing filled"
    pieces.append(piece_from_options(list(range(n)), list(greedy_opts), [x.cost for x in greedy_opts],
                                     [1000] * n, 1, 0))
    objs = list(greedy_opts)
    ex_o, ex_x = [], []
    for i in free.tolist():
        o = todo[i]
        if current[i] >= 0:
            ex_o.append(i)
            ex_x.append(_stay_option(full, o, current[i], cfg, reserve=False))
        nl = int(n_lines[i])
        ex_o.append(i)
        ex_x.append(Option(cfg.cost.unfilled_per_line * nl, 0.0, (), tuple(range(nl)),
                           cost_breakdown(cfg, o.promise_min, 0.0, 0, 0, 0, nl)))
    pieces.append(piece_from_options(ex_o, ex_x, [x.cost for x in ex_x], [1001] * len(ex_x), 1, len(objs)))
    objs += ex_x
    sources = [bulk, objs]
    # any option not listed costs at least the k-th listed, when the search finished; an
    # order beyond the exact search's lines, or whose search ran out of budget: nothing known
    other = np.full(n, np.inf)
    proven = np.zeros(n, bool)
    for i in free.tolist():
        p = int(pos[i])
        proven[i] = bool(bulk.proven[p]) if bulk.searched[p] else int(n_lines[i]) <= MAX_EXACT_LINES
    other[free] = flat["kth_cost"]
    open_ = free[~proven[free]]  # (their search stopped: a floor from their lines and the stock)
    rows_indptr, rows_sku, rows_avail = full.stock_rows()
    other[open_] = option_floor([codes_l[i] for i in open_.tolist()], [qty_l[i] for i in open_.tolist()],
                                rows_indptr, rows_sku, rows_avail, cfg.limits.max_packages + cfg.limits.max_transfers,
                                cfg.cost.unfilled_per_line, cfg.cost.per_package)
    n_codes = full.n_skus
    mk = (lambda: build_table(pieces, n, line_ptr, line_code, line_qty, current, cfg.cost.move_penalty, 1,
                              other, locked, n_codes))
    tb = mk()
    avail = stock_of(tb, rows_indptr, rows_sku, rows_avail, n_codes)
    cap = full.capacity_left_all()
    hot, hot_cap = contention(tb, avail, cap)
    # the ways around short stock: they add demand elsewhere, so contention is worked out
    # again with them
    if hot.any() and k_avoid > 0:
        piece = _avoiding(full, tb, hot, todo, pickup, k_avoid, threads, len(sources))
        if piece is not None:
            pieces.append(piece[0])
            sources.append(piece[1])
            tb = mk()
            avail = stock_of(tb, rows_indptr, rows_sku, rows_avail, n_codes)
            hot, hot_cap = contention(tb, avail, cap)
    best = tb.opt_ptr[:-1]
    tb.other = np.where(tb.locked, np.inf, np.minimum(tb.other, tb.cost[best]))
    tick("options", n, n)
    return _Model(tb, avail, cap, hot, hot_cap, sources, pickup, promise, proven, full, np.asarray(current, np.int64))


def _avoiding(full: Router, tb: OptionTable, hot: np.ndarray, todo, pickup, k: int, threads: int, src: int):
    """The k cheapest options that draw on no short stock, for every order whose best option
    could: searched with every short (store, SKU) taken out of the stock (and put back after).
    The k cheapest under the full stock all compete for the same nearby units when stock is
    thin; these are the ways out (a farther store, a split, a parcel) that greedy finds only
    for the orders routed last. Returns (piece, its BulkOptions), or None."""
    no_cap = np.zeros(len(full.network), bool)
    idx = np.flatnonzero(~tb.locked & touches(tb, tb.opt_ptr[:-1], hot, no_cap))
    if not len(idx):
        return None
    hr = np.flatnonzero(hot)
    with full.withholding(zip(tb.res_store[hr].tolist(), tb.res_code[hr].tolist())):
        bulk = full.options_bulk([todo[i] for i in idx.tolist()], k, threads=threads, node_limit=PLAN_NODE_LIMIT)
    flat = bulk.flat(k)
    flat["order"] = idx[flat["order"].astype(np.int64)]
    return piece_from_bulk(flat, pickup, src, 2000), bulk


def _greedy(network: Network, cfg: Config, todo, locked, current, tick) -> tuple[list[Option], list[int]]:
    """The greedy baseline: the router in file order, locked orders first (they keep their
    current store and take their stock first). Returns each order's option, and the lines
    (a mask) the stores its search examined hold (for the unfilled reasons)."""
    n = len(todo)
    router = Router(network, cfg)
    out: list = [None] * n
    seen = [0] * n
    for done, i in enumerate([i for i in range(n) if locked[i]] + [i for i in range(n) if not locked[i]]):
        if done % 500 == 0:
            tick("greedy", done, n)
        if locked[i]:
            out[i] = _stay_option(router, todo[i], current[i], cfg, reserve=True)
        else:
            # decided without holding it, then its units and capacity taken: a held decision
            # keeps its explanation's inputs (every candidate store, what the search
            # examined), about 27 KB an order on the dense city, which the plan never reads
            o = todo[i]
            d = router.route(o, reserve=False)
            out[i] = d.option
            if out[i].unfilled:
                seen[i] = d.examined_lines
            if out[i].packages:
                router.take_option(out[i], *_merged_codes(router, o))
    tick("greedy", n, n)
    return out, seen


def _mask(lines) -> int:
    """A line mask (a Python int: any number of lines) of line positions."""
    m = 0
    for j in set(np.asarray(lines).tolist()):
        m |= 1 << int(j)
    return m


def _lines_held(tb: OptionTable, i: int) -> tuple[int, int]:
    """Order i's line masks in the table: the lines its best (first) option fills, and the
    lines any of its options holds."""
    a, b = int(tb.opt_ptr[i]), int(tb.opt_ptr[i + 1])
    return (_mask(tb.l_line[tb.l_ptr[a]:tb.l_ptr[a + 1]]), _mask(tb.l_line[tb.l_ptr[a]:tb.l_ptr[b]]))


# --- inputs -----------------------------------------------------------------------------------

def _orders_of(network: Network, orders):
    if isinstance(orders, OrderBatch):
        probs = backlog_problems(network, orders)
        if probs:
            raise InputError(probs)
        todo = [Order.from_batch(orders, i, network.store_ids) for i in range(len(orders))]
        locked = [bool(v) for v in orders.locked]
        current = [int(v) for v in orders.current_store]
    else:
        todo = [o if isinstance(o, Order) else Order.from_dict(o) for o in orders]
        locked = [False] * len(todo)
        current = [-1] * len(todo)
    for i in range(len(todo)):
        if locked[i] and current[i] < 0:
            locked[i] = False  # nothing to keep: a locked order with no current store is planned
    return todo, locked, current


# --- options ------------------------------------------------------------------------------------

def stay_modes(network: Network, store, mode, pickup, lat, lon, promise_min, city) -> tuple[np.ndarray, np.ndarray]:
    """How each ``store`` would serve its order if the order stays there (its
    ``current_store``), by the rules every option follows, for arrays of orders at once:
    (mode per order, ETA per order). A pickup order (``mode`` "pickup", ``pickup`` its store
    index) is prepared at its pickup store when that is the store and it offers pickup
    (ETA: its handling); a warehouse of the order's city that ships parcels ships one
    ("parcel", ``parcel_lead_min``); a store whose delivery area holds the customer delivers
    ("deliver", its direct ETA). Mode None: the store cannot serve the order at all (an
    input error: ``backlog_problems``). ``city``: per order its city name or None."""
    store = np.asarray(store, np.int64)
    n = store.shape[0]
    is_pickup = np.asarray(mode, dtype=object) == "pickup"
    pickup = np.asarray(pickup, np.int64)
    kinds = np.full(n, None, dtype=object)
    eta = np.zeros(n)
    ok = is_pickup & (pickup == store) & network.pickup[store]
    kinds[ok] = "pickup"
    eta[ok] = network.handling_min[store[ok]]
    rest = np.flatnonzero(~is_pickup)
    if len(rest):
        st = store[rest]
        cities = [city[i] for i in rest.tolist()]
        wh = network.kind[st] == "warehouse"
        home_city = network.order_cities(np.asarray(lat)[rest], np.asarray(lon)[rest], cities)
        parcel = wh & network.delivers[st] & (network.city_code[st] == home_city)
        kinds[rest[parcel]] = "parcel"
        eta[rest[parcel]] = network.config.travel.parcel_lead_min
        d_eta, inside = network.delivery_area(st, np.asarray(lat)[rest], np.asarray(lon)[rest],
                                              np.asarray(promise_min, np.float64)[rest], cities)
        deliver = ~wh & inside
        kinds[rest[deliver]] = "deliver"
        eta[rest[deliver]] = d_eta[deliver]
    return kinds, eta


def stay_mode(network: Network, o: Order, store: int, promise_min: float | None = None) -> tuple[str, float] | None:
    """``stay_modes`` for one order: (mode, ETA), or None when ``store`` cannot serve it.
    promise_min: the promise to judge the delivery area by (default the order's)."""
    pickup = network.index_of(o.pickup_store) if o.mode == "pickup" and o.pickup_store is not None else -1
    kinds, eta = stay_modes(network, [store], [o.mode], [pickup], [o.lat], [o.lon],
                            [o.promise_min if promise_min is None else promise_min], [o.city])
    return None if kinds[0] is None else (str(kinds[0]), float(eta[0]))


def backlog_problems(network: Network, orders: OrderBatch) -> list[Problem]:
    """What makes a backlog unplannable on this network, checked before any planning (by
    ``plan`` and ``omnifill validate``), one Problem each naming the file, the row of the
    order's first line, the column and the value: a ``city`` with no stores; a
    ``current_store`` that cannot serve its order under the model (``stay_modes``, for all
    the orders at once): a pickup order kept at another store than its pickup store, a
    store that does not deliver or whose delivery area does not hold the customer, a
    warehouse that ships no parcels or is of another city."""
    out = []

    def row_of(i):
        return int(orders.line_row[orders.line_indptr[i]])

    known = set(network.cities)
    bad_city = set()
    for i, c in enumerate(orders.city.tolist()):
        if c is not None and c not in known:
            bad_city.add(i)
            out.append(Problem(orders.source, row_of(i), "city", c,
                               f"order {orders.order_id[i]!r}: no store of the network is in this city"))
    cur = np.asarray(orders.current_store)
    idx = np.array([i for i in np.flatnonzero(cur >= 0).tolist() if i not in bad_city], np.int64)
    if not len(idx):
        return out
    kinds, _ = stay_modes(network, cur[idx], orders.mode[idx], orders.pickup_store[idx], orders.lat[idx],
                          orders.lon[idx], orders.promise_min[idx], orders.city[idx].tolist())
    for i in idx[np.array([k is None for k in kinds], bool)].tolist():
        store = int(cur[i])
        sid = str(network.store_ids[store])
        if orders.mode[i] == "pickup":
            why = (f"a pickup order is prepared only at its pickup_store ({network.store_ids[orders.pickup_store[i]]})"
                   if orders.pickup_store[i] != store else "the pickup store does not offer pickup")
        elif network.kind[store] == "warehouse":
            why = ("the warehouse ships no parcels (delivers is false)" if not network.delivers[store]
                   else "the warehouse is of another city than the order")
        elif not network.delivers[store]:
            why = "the store does not deliver (delivers is false)"
        else:
            why = "the customer is beyond the store's delivery area (its zones, or max(promise_min, max_courier_min))"
        out.append(Problem(orders.source, row_of(i), "current_store", sid,
                           f"order {orders.order_id[i]!r} cannot stay at this store: {why}"))
    return out


def _merged_codes(router: Router, o: Order) -> tuple[np.ndarray, np.ndarray]:
    """Order o's lines merged by SKU (the numbering options use): their SKU codes and qty."""
    skus, qtys, _ = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
    return router.line_codes(skus), np.array(qtys, np.int64)


def _stay_option(router: Router, o: Order, store: int, cfg: Config, *, reserve: bool) -> Option:
    """The option that keeps order o at ``store``, with its true mode, ETA and cost
    (``stay_mode``): a delivery at the store's direct ETA, a warehouse parcel at
    ``parcel_lead_min``, or a pickup there ready at its handling time; its package holds the
    lines the store holds now (any number of lines), the rest unfilled. With ``reserve`` its
    stock and one unit of the store's capacity are taken at once, beyond the capacity if
    need be (a locked order keeps its store; the store then has none left)."""
    net = router.network
    how = stay_mode(net, o, store)
    if how is None:  # refused up front by backlog_problems; a caller's own Order
        raise InputError([Problem("<orders>", None, "current_store", str(net.store_ids[store]),
                                  f"order {o.order_id!r} cannot stay at this store")])
    kind, eta = how
    codes, q = _merged_codes(router, o)
    holds = router.line_holds(store, codes, q)
    lines = tuple(np.flatnonzero(holds).tolist())
    pk = (Package(store, kind, eta, lines),) if lines else ()
    unfilled = tuple(np.flatnonzero(~holds).tolist())
    br = cost_breakdown(cfg, o.promise_min, eta if pk else 0.0, len(pk), int(kind == "parcel" and bool(pk)), 0,
                        len(unfilled))
    opt = Option(br["total"], eta if pk else 0.0, pk, unfilled, br)
    if reserve and lines:
        router.take_option(opt, codes, q)
    return opt


def _moved(x: Option, cur: int) -> bool:
    # an order stays when every filled line ships in its current store's package
    if cur < 0 or not x.packages:
        return False
    return not (len(x.packages) == 1 and x.packages[0].store == cur)


def _cost_with_move(x: Option, cur: int, cfg: Config) -> float:
    return x.cost + (cfg.cost.move_penalty if _moved(x, cur) else 0.0)


# --- solving ---------------------------------------------------------------------------------------

def _solve(sub: OptionTable, avail: np.ndarray, cap: np.ndarray, hot: np.ndarray, time_limit: float, seed: int,
           workers: int, c_unf: float, stages=None, presolve: bool = True):
    """One component (its table, the stock per resource and capacity per store it may use,
    its short resources): each order's option and each line's source. Returns (option row
    per order, source holder per slot as ``LinearModel.decode`` gives it, the status, the
    bound on the component's model or -inf). Never returns a plan costlier than the
    component's greedy choices. A plain function of plain arrays, for any executor.

    Stages (STAGES), each from the best plan so far: CP-SAT with every line's source fixed
    to the search's, 30% of the time (one column per option: small, and it improves on
    greedy fast); HiGHS on the whole model (sources free where stock is short), 50%: an
    LP-based branch and bound, which on the contended 300-order benchmarks proves the
    optimum in about 30 s where CP-SAT's single worker stalled 1-4% above it; CP-SAT on the
    whole model, 20%, when HiGHS did not finish. A stage that proves the whole model's
    optimum ends the component. ``stages`` replaces STAGES (a block of a large component:
    BLOCK_STAGES); ``presolve`` False turns CP-SAT's presolve off."""
    best = sub.own_plan(sub.greedy)
    best_cost = float(sub.sourced_cost(*best, c_unf).sum())
    statuses = []
    bound = -math.inf
    proven = False
    for how, flex, share in stages or STAGES:
        if how == "mip" and time_limit * share < MIP_MIN_TIME:
            continue
        lm = linear_model(sub, avail, cap, hot, flex, c_unf)
        if how == "mip":
            if lm.n_cols > MIP_MAX_COLUMNS:
                continue
            vals, st, b = solve(lm, "highs", time_limit * share, workers=workers)
            if st != "OPTIMAL":  # a plan HiGHS did not prove depends on the clock: not taken
                vals = None
        else:
            vals, st, b = solve(lm, "sat", time_limit * share, seed=seed, workers=workers,
                                hint=lm.hint_columns(sub, *best), presolve=presolve)
        if flex:  # with the sources fixed, a bound is not the model's
            bound = max(bound, b)
        statuses.append(st)
        if vals is not None:
            found = lm.decode(sub, vals)
            cost = float(sub.sourced_cost(*found, c_unf).sum())
            if cost < best_cost - 1e-9:
                best, best_cost = found, cost
        if flex and st == "OPTIMAL":
            proven = True
            break  # proven: no later stage can do better
    # proven only by a stage over the whole model (sources free); a stage that found the
    # model infeasible or invalid says so (the greedy plan is kept, feasible by construction);
    # otherwise a plan was found (FEASIBLE) or nothing was (UNKNOWN)
    if proven:
        name = "OPTIMAL"
    elif any(st in ("INFEASIBLE", "MODEL_INVALID") for st in statuses):
        name = worst_status(statuses)
    elif any(st in ("OPTIMAL", "FEASIBLE") for st in statuses):
        name = "FEASIBLE"
    else:
        name = "UNKNOWN"
    return best[0], best[1], name, bound


def _solve_blocks(sub: OptionTable, avail: np.ndarray, cap: np.ndarray, hot: np.ndarray, time_limit: float,
                  seed: int, workers: int, c_unf: float, parallel: int = 1, place=None):
    """``_solve`` for a component too large for one model: its orders in blocks of BLOCK
    (neighbours together: ordered by ``place``, a key per order such as ``morton_keys`` of
    their locations; by their position when None), each block solved with ``_solve``
    against the stock and capacity the rest of the component's current plan leaves,
    starting from greedy (a block-coordinate descent; no bound).

    Blocks go in pairs, block i with block i + half (far apart, so they seldom compete):
    both are solved against the current plan of all the others, the pair's partner
    included, so each new plan fits beside the other's old one. When the two new plans
    also fit together, both are kept; when they do not, the first is kept and the second
    is solved again beside it. Every plan kept fits beside the rest, so the component's plan
    is always complete, feasible and never worse than greedy. With ``parallel`` >= 2 the two
    of a pair are solved on two threads at once (the solvers release the GIL); the steps
    are the same whatever ``parallel``, and so is the plan."""
    n = sub.n
    rows, srcs = sub.own_plan(sub.greedy)
    used_r, cs = sub.usage(rows, srcs)
    used_c = np.bincount(cs, minlength=len(cap))
    order = np.arange(n) if place is None else np.lexsort((np.arange(n), np.asarray(place)))
    blocks = [order[a:a + BLOCK] for a in range(0, n, BLOCK)]
    # what each block could gain at most: its orders' greedy cost over their cheapest
    # options. A block with nothing to gain is left as it is; when the time would give a
    # block less than MIN_BLOCK_S, the blocks that could gain most get it (by that measure,
    # not the clock: the same plan every run)
    slack = sub.sourced_cost(rows, srcs, c_unf) - _cheapest(sub)
    gain = np.array([slack[b].sum() for b in blocks])
    keep = np.flatnonzero(gain > 1e-9)
    most = max(1, int(time_limit / MIN_BLOCK_S))
    if len(keep) > most:
        keep = np.sort(keep[np.lexsort((keep, -gain[keep]))[:most]])
    blocks = [blocks[i] for i in keep.tolist()]
    n_in = max(1, sum(len(b) for b in blocks))
    half = (len(blocks) + 1) // 2
    statuses = ["OPTIMAL"] if not blocks else []

    def usage(rws, srs):
        r, c = sub.usage(rws, srs)
        return r, np.bincount(c, minlength=len(cap))

    def prepare(blk):
        # the block's problem beside everyone else's current plan
        r_old, c_old = usage(rows[blk], srcs)
        bsub, borows, bslots, bhs, bres = sub.subset(blk)
        args = (bsub, avail[bres] - (used_r - r_old)[bres], cap - (used_c - c_old), hot[bres],
                time_limit * len(blk) / n_in, seed, workers, c_unf, BLOCK_STAGES, False)
        return args, (borows, bslots, bhs), (r_old, c_old)

    def new_plan(blk, maps, result):
        # the block's rows and sources (in the component's numbering) from _solve's answer
        borows, bslots, bhs = maps
        pick, lsrc, st, _ = result
        statuses.append(st)
        b_srcs = np.full(len(srcs), -2, np.int64)
        b_srcs[bslots] = np.where(lsrc >= 0, bhs[np.maximum(lsrc, 0)], lsrc)
        b_rows = borows[pick]
        return b_rows, b_srcs, usage(b_rows, b_srcs)

    def commit(blk, old, new):
        b_rows, b_srcs, (r_new, c_new) = new
        srcs[csr_take(sub.l_ptr, rows[blk])] = -2
        rows[blk] = b_rows
        sl = csr_take(sub.l_ptr, b_rows)
        srcs[sl] = b_srcs[sl]
        used_r[:] += r_new - old[0]
        used_c[:] += c_new - old[1]

    pool = None
    if parallel >= 2 and len(blocks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(2)
    try:
        for i in range(half):
            if i + half >= len(blocks):
                args, maps, old = prepare(blocks[i])
                commit(blocks[i], old, new_plan(blocks[i], maps, _solve(*args)))
                continue
            a_blk, b_blk = blocks[i], blocks[i + half]
            (a_args, a_maps, a_old), (b_args, b_maps, b_old) = prepare(a_blk), prepare(b_blk)
            if pool is not None:
                fa, fb = pool.submit(_solve, *a_args), pool.submit(_solve, *b_args)
                a_res, b_res = fa.result(), fb.result()
            else:
                a_res, b_res = _solve(*a_args), _solve(*b_args)
            a_new, b_new = new_plan(a_blk, a_maps, a_res), new_plan(b_blk, b_maps, b_res)
            r_both = used_r - a_old[0] - b_old[0] + a_new[2][0] + b_new[2][0]
            c_both = used_c - a_old[1] - b_old[1] + a_new[2][1] + b_new[2][1]
            commit(a_blk, a_old, a_new)
            if (r_both <= avail).all() and (c_both <= cap).all():
                commit(b_blk, b_old, b_new)
            else:  # the two took the same units: the second again, beside the first's new plan
                args, maps, old = prepare(b_blk)
                commit(b_blk, old, new_plan(b_blk, maps, _solve(*args)))
    finally:
        if pool is not None:
            pool.shutdown()
    return rows, srcs, ("FEASIBLE" if any(x in ("FEASIBLE", "OPTIMAL") for x in statuses)
                        else worst_status(statuses)), -math.inf


def _cheapest(sub: OptionTable) -> np.ndarray:
    """Per order of a table: the cost of its cheapest listed option (a lower bound on what
    any plan of the model pays for it: a plan's cost is its options' plus unsourced lines)."""
    return np.minimum.reduceat(sub.cost, sub.opt_ptr[:-1]) if sub.n else np.zeros(0)


def _lp_bound(sub: OptionTable, avail: np.ndarray, cap: np.ndarray, hot: np.ndarray, c_unf: float, other: bool,
              time_limit: float) -> float:
    """GLOP on the LP relaxation of a component's model (sources free where stock is
    short); with ``other``, an "any other option" column per order (see the module's
    docstring for what it bounds), else a bound on the model's listed options only. -inf
    when GLOP does not finish in time."""
    lm = linear_model(sub, avail, cap, hot, True, c_unf, other=other)
    _, st, b = solve(lm, "glop", time_limit)
    return b if st == "OPTIMAL" else -math.inf


def _resourced(x: Option, src: dict, promise: float, cfg: Config) -> Option:
    """Option x with its lines taken from the given stores (None: unfilled)."""
    if src == {st_j[1]: st_j[0] for st_j in x.sources()}:
        return x
    pk = []
    for p in x.packages:
        own = tuple(sorted(j for j, st in src.items() if st == p.store))
        trs = tuple((b, tuple(sorted(j for j, st in src.items() if st == b))) for b, _ in p.transfers)
        pk.append(Package(p.store, p.kind, p.eta_min, own, trs))
    unfilled = tuple(sorted(set(x.unfilled) | {j for j, st in src.items() if st is None}))
    br = cost_breakdown(cfg, promise, x.eta_min if pk else 0.0, len(pk), sum(p.kind == "parcel" for p in pk),
                        sum(len(p.transfers) for p in pk), len(unfilled))
    return Option(br["total"], x.eta_min, tuple(pk), unfilled, br, x.holds)


# solver statuses from the most to the least alarming; a name OR-Tools may give that is not
# here (ABNORMAL, NOT_SOLVED, ...) counts as UNKNOWN: nothing was proven
STATUS_ORDER = ("MODEL_INVALID", "INFEASIBLE", "UNKNOWN", "FEASIBLE", "OPTIMAL")


def worst_status(statuses: list[str]) -> str:
    """The summary's ``solver_status`` of several components or cities: the most alarming
    of theirs (STATUS_ORDER), so a plan is OPTIMAL only when every part was proven so;
    OPTIMAL for none (nothing to solve)."""
    rank = {s: k for k, s in enumerate(STATUS_ORDER)}
    return min((s if s in rank else "UNKNOWN" for s in statuses), key=rank.__getitem__, default="OPTIMAL")


# --- rows and summary --------------------------------------------------------------------------------

def _rows_of(o: Order, x: Option, cur: int, network: Network, cfg: Config, locked: bool, contended: int,
             seen: int) -> list[dict]:
    """The order's rows. Unfilled lines say why, by the router's rules
    (``options.unfilled_reasons``): ``contended``, the lines the order's best option fills
    under the whole stock (other orders took them); ``seen``, the lines some option of the
    order holds (line masks)."""
    skus, _, line_of = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
    reasons = {}
    if x.unfilled:
        codes = network.inventory.codes(skus)
        pickup_state = in_reach = None
        if o.mode == "pickup":
            p = network.index_of(o.pickup_store)
            pickup_state = (bool(network.pickup[p]), False, float(network.capacity[p]))
        elif not locked and any(codes[j] >= 0 for j in x.unfilled):  # (else no line asks)
            city = network.cities[int(network.order_cities([o.lat], [o.lon], None if o.city is None else [o.city])[0])]
            reach = delivery_reach(o.promise_min, cfg.limits.max_courier_min)
            in_reach = bool(len(network.warehouses(city))) or bool(len(network.candidates_one(
                o.lat, o.lon, reach, city=o.city, promise_min=o.promise_min)[0]))
        reasons = unfilled_reasons(x.unfilled, codes, pickup_state=pickup_state, in_reach=in_reach is not False,
                                   locked=locked, contended=contended, seen=seen)
    rows = plan_rows(x, o.order_id, [s for s, _ in o.lines], [q for _, q in o.lines], line_of, o.promise_min,
                     network.store_ids, o.home_store, reasons)
    if _moved(x, cur):
        for r in rows:
            if r["mode"] != "unfilled":
                r["reason"] = f"moved from {network.store_ids[cur]}"
    return rows


def _summary(todo, rows, choice, costs, current, cfg, bound, model_bound, status, greedy_cost, timings, n_solver,
             n_comp, policy, largest=0, bound_kind=None) -> dict:
    import ortools

    from . import __version__

    objective = float(sum(costs))
    n = len(todo)
    tiers: dict = {}
    for o, x in zip(todo, choice):
        t = tiers.setdefault(f"{o.promise_min:g}", [0, 0])
        t[0] += 1
        t[1] += x.on_time(o.promise_min)
    gap = model_gap = None
    if bound is not None and math.isfinite(bound) and objective > 0:
        gap = max(0.0, (objective - bound) / objective)
    if model_bound is not None and math.isfinite(model_bound) and objective > 0:
        model_gap = max(0.0, (objective - model_bound) / objective)
    return {
        "policy": policy,
        "objective": objective,
        "lower_bound": bound if bound is not None and math.isfinite(bound) else None,
        "lower_bound_kind": bound_kind if bound is not None and math.isfinite(bound) else None,
        "gap": gap,
        "model_lower_bound": model_bound if model_bound is not None and math.isfinite(model_bound) else None,
        "model_gap": model_gap,
        "solver_status": status,
        "greedy_objective": greedy_cost,
        "orders_in": n, "orders_out": len({r["order_id"] for r in rows}),
        "lines_in": sum(len(o.lines) for o in todo), "lines_out": len(rows),
        "on_time_rate": {k: v[1] / v[0] for k, v in sorted(tiers.items())},
        "orders_per_tier": {k: v[0] for k, v in sorted(tiers.items())},
        "packages_per_order": sum(len(x.packages) for x in choice) / max(1, n),
        "transfers": sum(x.n_transfers for x in choice),
        "parcels": sum(x.n_parcels for x in choice),
        "unfilled_lines": sum(r["mode"] == "unfilled" for r in rows),
        "moved": sum(_moved(x, c) for x, c in zip(choice, current)),
        "orders_in_solver": n_solver, "components": n_comp, "largest_component": largest,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "versions": {"omnifill": __version__,
                     "ortools": ortools.__version__,  # type: ignore[attr-defined]
                     "numpy": np.__version__, "python": platform.python_version()},
    }


__all__ = ["PLAN_COLUMNS", "LinearModel", "Plan", "backlog_problems", "check_plan_path", "export_model", "linear_model",
           "model_options", "plan", "stay_mode", "stay_modes"]
