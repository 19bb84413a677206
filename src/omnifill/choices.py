"""Every order's candidate options for the planner, as flat arrays (no Python object per option).

An option fixes an order's stores (packages, transfers) and so its cost; the planner's model
may still take each filled line from any store of the option that holds it. ``OptionTable``
keeps, for all orders at once:

- per option (rows ``opt_ptr[i]:opt_ptr[i+1]`` of order i, cheapest first): ``cost`` (its
  cost (the omnifill cost model) with every line it covers filled, plus ``move_penalty`` when it takes the
  order off its current store) and where it came from (``src``, ``ref``: a kernel answer or
  an ``Option``);
- per slot (a line the option fills, ``l_ptr``): the line, its quantity and its own source
  (the holder ``l_own_holder``, the search's choice);
- per holder (a store of the option holding the slot's line, ``h_ptr``): the store and the
  resource, a (store, SKU) pair numbered in ``res_store`` / ``res_code``;
- per option, its groups (``g_ptr``; each a list of stores ``group_store_ptr`` / ``group_store``): every
  package and every transfer must carry a line from one of its group's stores;
- per option, the stores spending a unit of capacity (``c_ptr`` / ``c_store``).

Options come in as "pieces": the kernel's bulk answer (``piece_from_bulk``, vectorised over
its element arrays) or a list of ``Option`` objects (``piece_from_options``: the greedy
router's, the one keeping the current store, nothing filled). ``build_table`` joins pieces,
drops an option that repeats another of the same order (same packages, transfers and own
sources: a 64-bit hash of its elements, summed, so the order of elements does not matter) and
sorts each order's options by cost. The contention test, the decomposition into components
and the subsets handed to the solvers are numpy operations on these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .csr import csr_take, indptr_of, ptr_from_counts
from .options import ElementKind, Option

_I64 = np.int64
DELIVER, TRANSFER, PARCEL, INTO_PICKUP, PICKUP = ElementKind


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser: a 64-bit hash of a 64-bit word
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def element_hash(kind, a, from_a, b, from_b) -> np.ndarray:
    """A 64-bit hash of each element's identity (kind, stores, lines it supplies)."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(kind, np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        for v in (np.asarray(a, _I64) + 1, np.asarray(from_a, np.uint64), np.asarray(b, _I64) + 1,
                  np.asarray(from_b, np.uint64)):
            h = _mix(h ^ v.astype(np.uint64))
    return h


@dataclass
class Piece:
    """Options before joining: per option its order, cost (no move penalty), priority among
    repeats (``rank``: lower kept), source (``src``, ``ref``) and hash; per entry, the option
    (``*_o``) it belongs to."""

    order: np.ndarray
    cost: np.ndarray
    rank: np.ndarray
    src: np.ndarray
    ref: np.ndarray
    hash: np.ndarray
    hold_o: np.ndarray  # (option, line, store): the store holds the line (full masks)
    hold_line: np.ndarray
    hold_store: np.ndarray
    own_o: np.ndarray  # (option, line, store): the line's own source
    own_line: np.ndarray
    own_store: np.ndarray
    grp_o: np.ndarray  # (option, group, store): the group's stores
    grp_id: np.ndarray
    grp_store: np.ndarray
    cap_o: np.ndarray  # (option, store): spends a unit of capacity
    cap_store: np.ndarray
    pk_o: np.ndarray  # (option, store): a package's store (for the move penalty)
    pk_store: np.ndarray


def line_bits(o, store, mask, nbits: int):
    """(option, line, store) for every set bit of the masks."""
    mask = np.asarray(mask, np.uint64)
    os_, ls, ss = [], [], []
    for j in range(nbits):
        sel = np.flatnonzero((mask >> np.uint64(j)) & np.uint64(1))
        if len(sel):
            os_.append(o[sel])
            ls.append(np.full(len(sel), j, np.int32))
            ss.append(store[sel])
    if not os_:
        return np.zeros(0, _I64), np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(os_).astype(_I64), np.concatenate(ls), np.concatenate(ss).astype(np.int32)


def piece_from_bulk(flat: dict, pickup: np.ndarray, src: int, rank0: int) -> Piece:
    """The kernel's options (``BulkOptions.flat``) as a piece; ``pickup``: per order, the
    pickup store or -1; ``rank0 + rank``: their priority among repeats."""
    eip = flat["el_indptr"]
    m = len(flat["order"])
    n_el = np.diff(eip)
    eo = np.repeat(np.arange(m, dtype=_I64), n_el)
    kind = flat["kind"].astype(_I64)
    a, b = flat["a"].astype(_I64), flat["b"].astype(_I64)
    fa, fb = flat["from_a"].astype(np.uint64), flat["from_b"].astype(np.uint64)
    ha, hb = flat["a_holds"].astype(np.uint64), flat["b_holds"].astype(np.uint64)
    order = flat["order"].astype(_I64)
    pk = pickup[order] if m else np.zeros(0, _I64)
    # identity: the sum of the elements' hashes
    eh = element_hash(kind, a, fa, b, fb)
    h = np.zeros(m, np.uint64)
    if len(eh):
        with np.errstate(over="ignore"):
            np.add.at(h, eo, eh)
    nbits = 64
    # holdings and own sources
    ia, ib = np.flatnonzero(a >= 0), np.flatnonzero(b >= 0)
    ho = np.concatenate([eo[ia], eo[ib]])
    hs = np.concatenate([a[ia], b[ib]])
    hm = np.concatenate([ha[ia] | fa[ia], hb[ib] | fb[ib]])
    hold_o, hold_line, hold_store = line_bits(ho, hs, hm, nbits)
    oo = np.concatenate([eo[ia], eo[ib]])
    om = np.concatenate([fa[ia], fb[ib]])
    own_o, own_line, own_store = line_bits(oo, hs, om, nbits)
    # groups and capacity
    g_o, g_id, g_st = [], [], []
    gid = 0

    def group(o_, stores_list):
        nonlocal gid
        k = len(o_)
        ids = np.arange(gid, gid + k, dtype=_I64)
        gid += k
        for st in stores_list:
            g_o.append(o_)
            g_id.append(ids)
            g_st.append(st)
        return ids

    d = np.flatnonzero((kind == DELIVER) | (kind == PARCEL))
    group(eo[d], [a[d]])
    t = np.flatnonzero(kind == TRANSFER)
    group(eo[t], [a[t], b[t]])
    group(eo[t], [b[t]])
    into = np.flatnonzero(kind == INTO_PICKUP)
    group(eo[into], [b[into]])
    # the pickup package: its store and every store sending into it
    po = np.flatnonzero((pk >= 0) & (n_el > 0))
    pids = group(po, [pk[po]])
    if len(into):
        pos = np.searchsorted(po, eo[into])
        g_o.append(eo[into])
        g_id.append(pids[pos])
        g_st.append(b[into])
    cap_o = np.concatenate([eo[d], eo[t], eo[t], eo[into], po])
    cap_store = np.concatenate([a[d], a[t], b[t], b[into], pk[po]])
    pk_o = np.concatenate([eo[d], eo[t], po])
    pk_store = np.concatenate([a[d], a[t], pk[po]])
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return Piece(order, flat["cost"].astype(np.float64), rank0 + flat["rank"].astype(_I64),
                 np.full(m, src, np.int16), flat["ref"].astype(_I64), h,
                 hold_o, hold_line, hold_store, own_o, own_line, own_store,
                 cat(g_o, _I64), cat(g_id, _I64), cat(g_st, np.int32), cap_o, cap_store.astype(np.int32),
                 pk_o, pk_store.astype(np.int32))


def _fold(mask: int) -> int:
    # a line mask of any width folded to 64 bits (orders of more than 64 lines)
    out = 0
    while mask:
        out ^= mask & 0xFFFFFFFFFFFFFFFF
        mask >>= 64
    return out


def piece_from_options(orders: list[int], opts: list[Option], costs: list[float], ranks: list[int], src: int,
                       ref0: int) -> Piece:
    """Options given as ``Option`` objects (option t of order ``orders[t]``; ``ref`` numbers
    them from ``ref0``) as a piece, with the same hash the kernel's form of it gets."""
    hold_o, hold_line, hold_store = [], [], []
    own_o, own_line, own_store = [], [], []
    g_o, g_id, g_st = [], [], []
    cap_o, cap_st, pk_o, pk_st = [], [], [], []
    ek: list[int] = []
    ea: list[int] = []
    efa: list[int] = []
    eb: list[int] = []
    efb: list[int] = []
    eopt: list[int] = []

    def element(t, kind, a, from_a, b, from_b):
        # one element of option t: its kind, its stores and the lines from each
        ek.append(kind)
        ea.append(a)
        efa.append(from_a)
        eb.append(b)
        efb.append(from_b)
        eopt.append(t)

    gid = 0
    for t, x in enumerate(opts):
        holds = dict(x.holds)
        for st, j in x.sources():
            holds[st] = holds.get(st, 0) | (1 << j)
            own_o.append(t)
            own_line.append(j)
            own_store.append(st)
        for st, m in holds.items():
            j = 0
            while m:
                if m & 1:
                    hold_o.append(t)
                    hold_line.append(j)
                    hold_store.append(st)
                m >>= 1
                j += 1
        for p in x.packages:
            mask = _fold(sum(1 << j for j in p.lines))
            pk_o.append(t)
            pk_st.append(p.store)
            grp = [p.store] + [bb for bb, _ in p.transfers]
            g_o += [t] * len(grp)
            g_id += [gid] * len(grp)
            g_st += grp
            gid += 1
            for bb, _ in p.transfers:
                g_o.append(t)
                g_id.append(gid)
                g_st.append(bb)
                gid += 1
            cap_o += [t] * len(grp)
            cap_st += grp
            if p.kind == "pickup":
                element(t, PICKUP, p.store, mask, -1, 0)
                for bb, ls in p.transfers:
                    element(t, INTO_PICKUP, -1, 0, bb, _fold(sum(1 << j for j in ls)))
            elif p.transfers:
                (bb, ls), = p.transfers
                element(t, TRANSFER, p.store, mask, bb, _fold(sum(1 << j for j in ls)))
            else:
                element(t, PARCEL if p.kind == "parcel" else DELIVER, p.store, mask, -1, 0)
    m = len(opts)
    h = np.zeros(m, np.uint64)
    if ek:
        eh = element_hash(np.array(ek), np.array(ea), np.array(efa, np.uint64), np.array(eb),
                          np.array(efb, np.uint64))
        with np.errstate(over="ignore"):
            np.add.at(h, np.array(eopt, _I64), eh)
    a64 = (lambda v: np.array(v, _I64))
    a32 = (lambda v: np.array(v, np.int32))
    return Piece(a64(orders), np.array(costs, np.float64), a64(ranks), np.full(m, src, np.int16),
                 ref0 + np.arange(m, dtype=_I64), h, a64(hold_o), a32(hold_line), a32(hold_store),
                 a64(own_o), a32(own_line), a32(own_store), a64(g_o), a64(g_id), a32(g_st), a64(cap_o),
                 a32(cap_st), a64(pk_o), a32(pk_st))


@dataclass
class OptionTable:
    """Every order's options (see the module's docstring). Orders 0..n-1; resources are the
    (store, SKU) pairs some option holds."""

    line_ptr: np.ndarray  # per order: its merged lines
    line_code: np.ndarray
    line_qty: np.ndarray
    opt_ptr: np.ndarray
    cost: np.ndarray
    src: np.ndarray
    ref: np.ndarray
    l_ptr: np.ndarray
    l_line: np.ndarray
    l_qty: np.ndarray
    l_own_holder: np.ndarray
    h_ptr: np.ndarray
    h_store: np.ndarray
    h_res: np.ndarray
    g_ptr: np.ndarray
    group_store_ptr: np.ndarray
    group_store: np.ndarray
    c_ptr: np.ndarray
    c_store: np.ndarray
    res_store: np.ndarray
    res_code: np.ndarray
    greedy: np.ndarray  # per order: the greedy router's option (a row)
    other: np.ndarray  # per order: a lower bound on any option not listed
    locked: np.ndarray

    @property
    def n(self) -> int:
        return len(self.opt_ptr) - 1

    @property
    def n_res(self) -> int:
        return len(self.res_store)

    def opt_order(self) -> np.ndarray:
        return np.repeat(np.arange(self.n, dtype=_I64), np.diff(self.opt_ptr))

    def slot_opt(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.cost), dtype=_I64), np.diff(self.l_ptr))

    def slot_code(self) -> np.ndarray:
        return self.line_code[self.line_ptr[self.opt_order()[self.slot_opt()]] + self.l_line]

    def own_plan(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The plan taking option ``rows[i]`` for every order with its own sources: (rows,
        source holder per slot, -2 where the slot's option is not taken)."""
        srcs = np.full(len(self.l_line), -2, _I64)
        sl = csr_take(self.l_ptr, rows)
        srcs[sl] = self.l_own_holder[sl]
        return np.array(rows, _I64), srcs  # a copy: callers change it

    def sourced_cost(self, rows: np.ndarray, srcs: np.ndarray, c_unf: float) -> np.ndarray:
        """Per order: its option's cost, plus ``c_unf`` for every slot left without a source."""
        rows = np.asarray(rows, _I64)
        sl = csr_take(self.l_ptr, rows)
        pos = np.repeat(np.arange(len(rows)), np.diff(self.l_ptr)[rows])
        unf = np.bincount(pos, weights=srcs[sl] == -1, minlength=len(rows))
        return self.cost[rows] + c_unf * unf

    def usage(self, rows: np.ndarray, srcs: np.ndarray):
        """What a plan takes: units per resource and capacity per store (bincounts)."""
        sl = csr_take(self.l_ptr, rows)
        s = srcs[sl]
        ok = s >= 0
        res = np.bincount(self.h_res[s[ok]], weights=self.l_qty[sl][ok], minlength=self.n_res)
        cs = self.c_store[csr_take(self.c_ptr, rows)]
        return res.astype(_I64), cs

    def subset(self, orders: np.ndarray):
        """The table of ``orders`` only (renumbered from 0, resources too), and the maps
        back: (table, option rows, slots, holders, resources)."""
        orders = np.asarray(orders, _I64)
        orows = csr_take(self.opt_ptr, orders)
        slots = csr_take(self.l_ptr, orows)
        hs = csr_take(self.h_ptr, slots)
        grps = csr_take(self.g_ptr, orows)
        gst = csr_take(self.group_store_ptr, grps)
        res, h_res = np.unique(self.h_res[hs], return_inverse=True)
        # holder indices renumbered: the own holder's position among the subset's holders
        h_new = np.full(len(self.h_store), -1, _I64)
        h_new[hs] = np.arange(len(hs))
        lines = csr_take(self.line_ptr, orders)
        o_new = np.full(len(self.cost), -1, _I64)
        o_new[orows] = np.arange(len(orows))
        t = OptionTable(
            indptr_of(self.line_ptr, orders), self.line_code[lines], self.line_qty[lines],
            indptr_of(self.opt_ptr, orders), self.cost[orows], self.src[orows], self.ref[orows],
            indptr_of(self.l_ptr, orows), self.l_line[slots], self.l_qty[slots], h_new[self.l_own_holder[slots]],
            indptr_of(self.h_ptr, slots), self.h_store[hs], h_res.astype(_I64),
            indptr_of(self.g_ptr, orows), indptr_of(self.group_store_ptr, grps), self.group_store[gst],
            indptr_of(self.c_ptr, orows), self.c_store[csr_take(self.c_ptr, orows)],
            self.res_store[res], self.res_code[res], o_new[self.greedy[orders]], self.other[orders],
            self.locked[orders])
        return t, orows, slots, hs, res


def build_table(pieces: list[Piece], n: int, line_ptr, line_code, line_qty, current, move_penalty: float,
                greedy_src: int, other, locked, n_codes: int) -> OptionTable:
    """Join pieces into a table: repeats dropped (the lowest rank kept), each order's options
    sorted by cost (then rank), ``move_penalty`` added to options moving an order off
    ``current``. ``greedy_src``: the piece holding each order's greedy option (one per order)."""
    cat = (lambda name, dt: np.concatenate([getattr(p, name) for p in pieces]).astype(dt))
    offs = np.cumsum([0] + [len(p.order) for p in pieces])
    order = cat("order", _I64)
    m = len(order)
    cost = cat("cost", np.float64)
    rank = cat("rank", _I64)
    src = cat("src", np.int16)
    ref = cat("ref", _I64)
    h = cat("hash", np.uint64)

    def ent(name, dt=_I64):
        return np.concatenate([getattr(p, name).astype(dt) + (offs[k] if name.endswith("_o") else 0)
                               for k, p in enumerate(pieces)])

    hold_o, hold_line, hold_store = ent("hold_o"), ent("hold_line"), ent("hold_store")
    own_o, own_line, own_store = ent("own_o"), ent("own_line"), ent("own_store")
    gid_off = []
    base = 0
    for p in pieces:  # group ids made unique across pieces
        gid_off.append(p.grp_id + base)
        base += int(p.grp_id.max()) + 1 if len(p.grp_id) else 0
    grp_o, grp_id, grp_store = ent("grp_o"), np.concatenate(gid_off).astype(_I64), ent("grp_store")
    cap_o, cap_store = ent("cap_o"), ent("cap_store")
    pk_o, pk_store = ent("pk_o"), ent("pk_store")

    # the move penalty: an order stays when its one package is its current store's
    cur = np.asarray(current, _I64)[order] if m else np.zeros(0, _I64)
    n_pk = np.bincount(pk_o, minlength=m)
    off_cur = np.bincount(pk_o, weights=(pk_store != cur[pk_o]), minlength=m)
    moved = (cur >= 0) & (n_pk > 0) & ~((n_pk == 1) & (off_cur == 0))
    cost = cost + np.where(moved, move_penalty, 0.0)

    # repeats: the same (order, hash); keep the lowest rank
    srt = np.lexsort((rank, h, order))
    first = np.ones(m, bool)
    if m:
        first[1:] = (order[srt][1:] != order[srt][:-1]) | (h[srt][1:] != h[srt][:-1])
    rep = np.empty(m, _I64)  # each raw option's kept representative
    grp_start = np.maximum.accumulate(np.where(first, np.arange(m), 0))
    rep[srt] = srt[grp_start]
    kept = np.zeros(m, bool)
    kept[srt[first]] = True
    kidx = np.flatnonzero(kept)
    # sorted by order, cost, rank
    korder = kidx[np.lexsort((rank[kidx], cost[kidx], order[kidx]))]
    new = np.full(m, -1, _I64)
    new[korder] = np.arange(len(korder))
    new_of = new[rep]  # a dropped option maps to its representative's row
    greedy = np.full(n, -1, _I64)
    g_raw = np.arange(offs[greedy_src], offs[greedy_src + 1])
    greedy[order[g_raw]] = new_of[g_raw]

    opt_ptr = ptr_from_counts(np.bincount(order[korder], minlength=n))

    # slots: (option, line) of the own sources; holders: the stores holding the slot's line
    keep_own = new[own_o] >= 0
    so, sl, ss = new[own_o[keep_own]], own_line[keep_own].astype(_I64), own_store[keep_own].astype(_I64)
    s_ord = np.lexsort((sl, so))
    so, sl, ss = so[s_ord], sl[s_ord], ss[s_ord]
    mline = int(max(sl.max(initial=0), hold_line.max(initial=0))) + 1
    n_st = int(max(ss.max(initial=0), hold_store.max(initial=0), grp_store.max(initial=0),
                   cap_store.max(initial=0))) + 1
    skey = so * mline + sl
    keep_h = new[hold_o] >= 0
    hk = new[hold_o[keep_h]] * mline + hold_line[keep_h]
    hst = hold_store[keep_h]
    in_slot = np.isin(hk, skey)
    hk, hst = hk[in_slot], hst[in_slot]
    full = np.unique(np.concatenate([hk * n_st + hst, skey * n_st + ss]))
    h_slotkey, h_store = full // n_st, full % n_st
    h_slot = np.searchsorted(skey, h_slotkey)
    h_ptr = ptr_from_counts(np.bincount(h_slot, minlength=len(skey)))
    l_own_holder = np.searchsorted(full, skey * n_st + ss)
    l_ptr = ptr_from_counts(np.bincount(so, minlength=len(korder)))
    l_order = order[korder][so]
    l_qty = np.asarray(line_qty, _I64)[np.asarray(line_ptr, _I64)[l_order] + sl]
    l_code = np.asarray(line_code, _I64)[np.asarray(line_ptr, _I64)[l_order] + sl]
    # resources: the (store, SKU) of every holder
    h_code = np.repeat(l_code, np.diff(h_ptr))
    rkey = h_store * (n_codes + 1) + h_code
    rk, h_res = np.unique(rkey, return_inverse=True)

    # groups and capacity, by new option
    keep_g = new[grp_o] >= 0
    go, gi, gs = new[grp_o[keep_g]], grp_id[keep_g], grp_store[keep_g].astype(_I64)
    g_ord = np.lexsort((gs, gi, go))
    go, gi, gs = go[g_ord], gi[g_ord], gs[g_ord]
    g_first = np.ones(len(gi), bool)
    g_first[1:] = gi[1:] != gi[:-1]
    g_of_opt = go[g_first]
    g_ptr = ptr_from_counts(np.bincount(g_of_opt, minlength=len(korder)))
    group_store_ptr = ptr_from_counts(np.diff(np.r_[np.flatnonzero(g_first), len(gi)]))
    keep_c = new[cap_o] >= 0
    co, cs = new[cap_o[keep_c]], cap_store[keep_c]
    c_ord = np.lexsort((cs, co))
    c_ptr = ptr_from_counts(np.bincount(co, minlength=len(korder)))

    return OptionTable(
        np.asarray(line_ptr, _I64), np.asarray(line_code, _I64), np.asarray(line_qty, _I64), opt_ptr,
        cost[korder], src[korder], ref[korder], l_ptr, sl.astype(np.int32), l_qty, l_own_holder.astype(_I64),
        h_ptr, h_store.astype(np.int32), h_res.astype(_I64), g_ptr, group_store_ptr, gs.astype(np.int32),
        c_ptr, cs[c_ord].astype(np.int32), (rk // (n_codes + 1)).astype(np.int32),
        (rk % (n_codes + 1)).astype(_I64), greedy, np.asarray(other, np.float64), np.asarray(locked, bool))


def stock_keys(indptr, sku, n_codes: int) -> np.ndarray:
    """Per row of a stock CSR (per store, its SKU codes ascending), ``store * (n_codes + 1) +
    code``: ascending, for ``rows_of_keys``."""
    st = np.repeat(np.arange(len(indptr) - 1, dtype=_I64), np.diff(indptr))
    return st * (n_codes + 1) + np.asarray(sku, _I64)


def rows_of_keys(keys: np.ndarray, store, code, n_codes: int) -> np.ndarray:
    """Per (store, SKU code) pair, its row in the stock CSR whose ``stock_keys`` are
    ``keys``; -1 where the store has no entry."""
    want = np.asarray(store, _I64) * (n_codes + 1) + np.asarray(code, _I64)
    if not len(keys):
        return np.full(len(want), -1, _I64)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[pos] == want, pos, -1).astype(_I64)


def stock_rows_of(t: OptionTable, indptr, sku, n_codes: int, res=None) -> np.ndarray:
    """Per resource of the table (or of ``res``, resource ids), its row in a stock CSR (per
    store, its SKU codes ascending); -1 where the store has no entry."""
    r = slice(None) if res is None else np.asarray(res, _I64)
    return rows_of_keys(stock_keys(indptr, sku, n_codes), t.res_store[r], t.res_code[r], n_codes)


def stock_of(t: OptionTable, indptr, sku, avail, n_codes: int) -> np.ndarray:
    """Per resource of the table, the available units in a stock CSR (per store, its SKU
    codes ascending, and their available units); 0 where the store has no entry."""
    pos = stock_rows_of(t, indptr, sku, n_codes)
    if not len(sku):
        return np.zeros(len(pos), _I64)
    return np.where(pos >= 0, np.maximum(0, np.asarray(avail, _I64)[np.maximum(pos, 0)]), 0).astype(_I64)


def contention(t: OptionTable, avail: np.ndarray, cap: np.ndarray):
    """The resources and stores all orders' options together could ask more of than there
    is: (hot per resource, hot per store). An order asks a resource for its line's quantity
    once, however many of its options hold it; a store for one unit of capacity."""
    h_order = np.repeat(t.opt_order()[t.slot_opt()], np.diff(t.h_ptr))
    h_qty = np.repeat(t.l_qty, np.diff(t.h_ptr))
    key = h_order * max(1, t.n_res) + t.h_res
    _, first = np.unique(key, return_index=True)
    demand = np.bincount(t.h_res[first], weights=h_qty[first], minlength=t.n_res)
    hot = demand > avail
    c_order = np.repeat(t.opt_order(), np.diff(t.c_ptr))
    ck = np.unique(c_order * len(cap) + t.c_store)
    cdem = np.bincount(ck % len(cap), minlength=len(cap))
    return hot, cdem > cap


def touches(t: OptionTable, rows: np.ndarray, hot: np.ndarray, hot_cap: np.ndarray) -> np.ndarray:
    """Per option row: whether it could draw on a hot resource or a hot store's capacity."""
    rows = np.asarray(rows, _I64)
    sl = csr_take(t.l_ptr, rows)
    hs = csr_take(t.h_ptr, sl)
    # holders per option: slot counts per option, holder counts per slot
    h_opt = np.repeat(np.repeat(np.arange(len(rows)), np.diff(indptr_of(t.l_ptr, rows))), np.diff(t.h_ptr)[sl])
    out = np.zeros(len(rows), bool)
    out[h_opt[hot[t.h_res[hs]]]] = True
    cs = csr_take(t.c_ptr, rows)
    c_opt = np.repeat(np.arange(len(rows)), np.diff(t.c_ptr)[rows])
    out[c_opt[hot_cap[t.c_store[cs]]]] = True
    return out


def components(t: OptionTable, hot: np.ndarray, hot_cap: np.ndarray):
    """Locked orders, and orders whose cheapest option touches nothing hot: fixed to it; the rest
    in components linked by the hot resources and stores any of their options touch.
    Returns (components, each an ascending array of orders, ordered by their first; fixed)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = t.n
    best = t.opt_ptr[:-1]
    # a locked order has one option, its stay: fixed to it whatever it touches (the
    # components are solved with what the fixed orders leave)
    free = t.locked | ~touches(t, best, hot, hot_cap)
    fixed = np.flatnonzero(free)
    rest = np.flatnonzero(~free)
    if not len(rest):
        return [], fixed
    h_order = np.repeat(t.opt_order()[t.slot_opt()], np.diff(t.h_ptr))
    e1 = np.flatnonzero(hot[t.h_res] & ~free[h_order])
    c_order = np.repeat(t.opt_order(), np.diff(t.c_ptr))
    e2 = np.flatnonzero(hot_cap[t.c_store] & ~free[c_order])
    u = np.concatenate([h_order[e1], c_order[e2]])
    v = np.concatenate([n + t.h_res[e1], n + t.n_res + t.c_store[e2].astype(_I64)])
    size = n + t.n_res + len(hot_cap)
    g = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(size, size))
    _, label = connected_components(g, directed=False)
    lab = label[rest]
    srt = np.argsort(lab, kind="stable")
    cuts = np.flatnonzero(np.diff(lab[srt])) + 1
    comps = np.split(rest[srt], cuts)
    comps.sort(key=lambda c: int(c[0]))
    return comps, fixed


__all__ = ["OptionTable", "Piece", "build_table", "components", "contention", "csr_take", "indptr_of",
           "line_bits", "piece_from_bulk", "piece_from_options", "rows_of_keys", "stock_keys", "stock_of",
           "stock_rows_of", "touches"]

