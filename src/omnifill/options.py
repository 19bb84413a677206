"""Fulfilment options of one order under the omnifill cost model (docs/cost-model.md), their costs and their plan rows.

An option says who fills each of an order's lines: a store's own delivery package, a line
sent by transfer from store b to the store a that delivers it (or to the pickup store), a
warehouse parcel, or nobody (unfilled). Its cost is the order cost:

    per_minute * eta + per_package * packages + per_parcel * parcels
    + per_transfer * transfers + late_per_minute * max(0, eta - promise_min)
    + unfilled_per_line * unfilled_lines (+ move_penalty * moved, for the planner)

The option space (what the router and the planner choose from; README "Decisions"):
- a delivery order is served by at most ``max_packages`` packages, each a store of its
  delivery area (``delivery_reach``: a zone of the order's tiers holds the customer, or the
  store has no zone for one of them and its direct ETA is within max(promise,
  ``limits.max_courier_min``)) delivering the lines it holds, or a warehouse of its city
  shipping a parcel;
- a delivering store may receive one transfer (lines from one other store of the city that
  sends transfers), at most ``max_transfers`` per order;
- a pickup order is one package prepared by its pickup store: the lines that store holds,
  plus at most ``max_transfers`` transfers into it;
- every store appears once in an option, a line is filled whole from one source, and lines
  of the same SKU in one order come from the same source;
- closed stores and stores at capacity take no part.

The exact search over that space is ``_core.OptionSearch`` (Cython); this module prepares its
input, turns its answer into an ``Option`` and writes the option's rows. It reads stock but
never changes it: reserving is the router's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from . import _core
from .config import Config


class ElementKind(IntEnum):
    """The kinds of the option search's elements, numbered as the kernel numbers them (its
    ``EL_*`` enum; ``_core.ELEMENT_KINDS`` names them in this order, and a test holds the two
    together): the one spelling the options, the planner's tables and the plan rows use."""

    DELIVER = 0  # a store delivers the lines it holds, in its own package
    TRANSFER = 1  # a store delivers its own lines plus those another store sends it
    PARCEL = 2  # a warehouse ships the lines it holds
    INTO_PICKUP = 3  # a store sends lines to the pickup store
    PICKUP = 4  # the pickup store's own package

    @property
    def label(self) -> str:
        """The kernel's name of the kind (``_core.ELEMENT_KINDS``): deliver, transfer, ..."""
        return self.name.lower()


# the kernel's answers name an element's kind by its label (OptionSearch.search, BulkOptions.found)
_DELIVER, _TRANSFER, _PARCEL, _INTO_PICKUP, _PICKUP = (k.label for k in ElementKind)

MAX_EXACT_LINES = _core.MAX_LINES  # distinct SKUs per order the exact search takes
GREEDY_CHUNK = 8  # stores whose lines greedy_option reads in one kernel call
ON_TIME_TOL_MIN = 1e-9  # an ETA this close above the promise is on time (float noise)


def delivery_reach(promise_min, max_courier_min: float):
    """The delivery area's radius rule: the direct-ETA limit of the stores that may deliver
    an order by courier, max(promise, ``limits.max_courier_min``). Within it a late delivery
    is allowed (and charged ``late_per_minute``); beyond it only warehouse parcels serve, so
    a 60-minute order whose only stock is 62 minutes away is delivered 2 minutes late, not
    by tomorrow's parcel. A float for one promise (the router's path, no numpy call), an
    array for an array."""
    if isinstance(promise_min, (int, float)):
        return max(float(promise_min), float(max_courier_min))
    return np.maximum(promise_min, float(max_courier_min))


def all_unfilled(config: Config, promise_min: float, n_lines: int) -> Option:
    """The option that fills nothing: every line unfilled, no package."""
    br = cost_breakdown(config, promise_min, 0.0, 0, 0, 0, n_lines)
    return Option(br["total"], 0.0, (), tuple(range(n_lines)), br)


def is_on_time(filled_any: bool, unfilled: int, eta_min: float, promise_min: float) -> bool:
    """The one definition of "on time", used by the router, the planner's rows and summary
    and the simulator alike: every line filled and the order's ETA (its last package's)
    within the promise. An order with an unfilled line is never on time."""
    return bool(filled_any) and unfilled == 0 and eta_min <= promise_min + ON_TIME_TOL_MIN


@dataclass(frozen=True)
class Package:
    """One package of an option: what ``store`` sends (or prepares for pickup)."""

    store: int  # the delivering store, the pickup store or the warehouse
    kind: str  # deliver | pickup | parcel
    eta_min: float
    lines: tuple[int, ...]  # merged-line positions filled from the store's own stock
    transfers: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (source store, merged lines)


@dataclass(frozen=True)
class Option:
    """A way to fulfil one order, with its cost split by term."""

    cost: float
    eta_min: float
    packages: tuple[Package, ...]
    unfilled: tuple[int, ...]  # merged-line positions nobody fills
    breakdown: dict
    # per store taking part: the lines it could supply (its available stock at search
    # time); the planner may source a line from any store of the option that holds it
    holds: tuple[tuple[int, int], ...] = ()

    def on_time(self, promise_min: float) -> bool:
        """Every line filled and the ETA within the promise (``is_on_time``)."""
        return is_on_time(bool(self.packages), len(self.unfilled), self.eta_min, promise_min)

    @property
    def n_transfers(self) -> int:
        return sum(len(p.transfers) for p in self.packages)

    @property
    def n_parcels(self) -> int:
        return sum(p.kind == "parcel" for p in self.packages)

    def stores(self) -> list[int]:
        """Every store taking part, once each: each sends one package or one transfer."""
        out = [p.store for p in self.packages]
        out += [b for p in self.packages for b, _ in p.transfers]
        return out

    def sources(self) -> list[tuple[int, int]]:
        """(store, merged line) for every filled line: where its stock comes from."""
        out = [(p.store, j) for p in self.packages for j in p.lines]
        out += [(b, j) for p in self.packages for b, lines in p.transfers for j in lines]
        return out

    def describe(self, store_ids) -> str:
        """A one-line human summary, e.g. ``deliver from S1 (24.1 min) + transfer S7 -> S1``."""
        parts = []
        for p in self.packages:
            sid = store_ids[p.store]
            word = {"deliver": "deliver from", "pickup": "pickup at", "parcel": "parcel from"}[p.kind]
            s = f"{word} {sid} ({p.eta_min:.1f} min)"
            for b, _ in p.transfers:
                s += f" with a transfer from {store_ids[b]}"
            parts.append(s)
        if self.unfilled:
            parts.append(f"{len(self.unfilled)} line{'s' if len(self.unfilled) != 1 else ''} unfilled")
        return " + ".join(parts) if parts else "nothing filled"


def cost_breakdown(config: Config, promise_min: float, eta_min: float, packages: int, parcels: int,
                   transfers: int, unfilled: int, moved: int = 0) -> dict:
    """The order cost of the cost model, term by term; ``total`` is their sum."""
    c = config.cost
    late = max(0.0, eta_min - promise_min) if packages else 0.0
    terms = {
        "minutes": c.per_minute * eta_min,
        "packages": c.per_package * packages,
        "parcels": c.per_parcel * parcels,
        "transfers": c.per_transfer * transfers,
        "late": c.late_per_minute * late,
        "unfilled": c.unfilled_per_line * unfilled,
        "moved": c.move_penalty * moved,
    }
    terms["total"] = sum(terms.values())
    return terms


# Why a plan row is unfilled: the one list of reasons, shared by the router's decisions and
# the planner's plans (``unfilled_reasons`` picks one per line), and what each means.
REASONS = {
    "sku_not_stocked": "no store in the network stocks this SKU",
    "pickup_not_offered": "the pickup store does not offer pickup",
    "pickup_store_closed": "the pickup store is closed",
    "pickup_store_at_capacity": "the pickup store has no capacity left",
    "no_store_in_reach": "no store's delivery area holds the customer and no warehouse of the city ships parcels",
    "locked_at_store": "the order is locked at its current store, which does not hold enough of it",
    "stock_contended": "with the whole stock the order would have had it; other orders of the plan took it",
    "cheaper_unfilled": "the stores holding it could only add it at a cost above unfilled_per_line, "
                        "or beyond max_packages / max_transfers",
    "no_stock_in_reach": "no store that could serve this order holds enough of it",
}


def unfilled_reasons(unfilled, codes, *, pickup_state=None, in_reach: bool = True, locked: bool = False,
                     contended: int = 0, seen: int = 0) -> dict[int, str]:
    """Why each unfilled (merged) line of an order is unfilled, the first rule that holds:
    no store stocks its SKU (``codes[j] < 0``); the pickup store (``pickup_state``: offers
    pickup, closed, capacity left; None for a delivery) cannot prepare it; nothing can serve
    the customer (``in_reach`` False: no store's delivery area holds it, no warehouse); the
    order is locked at a store without it; its best option under the whole stock fills it
    (``contended``, a line mask: other orders took the units); some store the search looked
    at holds it (``seen``, a line mask) but adding it costs more; else nobody in reach holds
    enough."""
    out = {}
    for j in unfilled:
        if codes[j] < 0:
            out[j] = "sku_not_stocked"
        elif pickup_state is not None and (not pickup_state[0] or pickup_state[1] or pickup_state[2] < 1):
            offers, closed, _ = pickup_state
            out[j] = ("pickup_not_offered" if not offers else "pickup_store_closed" if closed
                      else "pickup_store_at_capacity")
        elif not in_reach:
            out[j] = "no_store_in_reach"
        elif locked:
            out[j] = "locked_at_store"
        elif (contended >> j) & 1:
            out[j] = "stock_contended"
        elif (seen >> j) & 1:
            out[j] = "cheaper_unfilled"
        else:
            out[j] = "no_stock_in_reach"
    return out


def merge_lines(skus, qtys) -> tuple[list[str], list[int], list[int]]:
    """An order's lines merged by SKU: (skus, total qty, merged position of each input line)."""
    pos: dict[str, int] = {}
    out_s: list[str] = []
    out_q: list[int] = []
    of_line = []
    for s, q in zip(skus, qtys):
        k = pos.get(s)
        if k is None:
            k = pos[s] = len(out_s)
            out_s.append(s)
            out_q.append(0)
        out_q[k] += int(q)
        of_line.append(k)
    return out_s, out_q, of_line


def _bits(mask: int) -> tuple[int, ...]:
    out = []
    j = 0
    while mask:
        if mask & 1:
            out.append(j)
        mask >>= 1
        j += 1
    return tuple(out)


def option_from_search(found: tuple, n_lines: int, pickup: int, config: Config, promise_min: float) -> Option:
    """An ``Option`` from one (cost, eta, elements) answer of ``OptionSearch.search``.

    The cost is recomputed here from the structure, term by term, independently of the
    kernel's arithmetic; the two agree (a test holds them to it).
    """
    _, eta, elements = found
    packages = []
    into_pickup = []
    pickup_lines: tuple[int, ...] = ()
    covered = 0
    holds: dict[int, int] = {}
    for kind, a, b, e_eta, from_a, from_b, *full in elements:
        covered |= from_a | from_b
        if full:
            if a >= 0:
                holds[a] = holds.get(a, 0) | int(full[0])
            if b >= 0:
                holds[b] = holds.get(b, 0) | int(full[1])
        if kind == _DELIVER:
            packages.append(Package(a, "deliver", e_eta, _bits(from_a)))
        elif kind == _PARCEL:
            packages.append(Package(a, "parcel", e_eta, _bits(from_a)))
        elif kind == _TRANSFER:
            packages.append(Package(a, "deliver", e_eta, _bits(from_a), ((b, _bits(from_b)),)))
        elif kind == _PICKUP:
            pickup_lines = _bits(from_a)
        else:  # into_pickup
            into_pickup.append((b, _bits(from_b)))
    if pickup >= 0 and elements:
        packages.append(Package(pickup, "pickup", eta, pickup_lines, tuple(sorted(into_pickup))))
    packages.sort(key=lambda p: (p.eta_min, p.store))
    unfilled = tuple(j for j in range(n_lines) if not (covered >> j) & 1)
    br = cost_breakdown(config, promise_min, eta if packages else 0.0, len(packages),
                        sum(p.kind == "parcel" for p in packages), sum(len(p.transfers) for p in packages),
                        len(unfilled))
    return Option(br["total"], eta if packages else 0.0, tuple(packages), unfilled, br, tuple(sorted(holds.items())))


def line_holds(search: _core.OptionSearch, stores, line_sku, line_qty) -> np.ndarray:
    """Per store of ``stores`` and line of an order (any number of lines, in blocks of the
    kernel's 64), whether the store can fill the line whole from its available stock now:
    a bool array (stores x lines), one kernel call per block of lines for all the stores."""
    stores = np.asarray(stores, np.int32).reshape(-1)
    n = len(line_sku)
    out = np.zeros((len(stores), n), bool)
    if not len(stores):
        return out
    for k in range(0, n, MAX_EXACT_LINES):
        sl = slice(k, min(n, k + MAX_EXACT_LINES))
        w = np.asarray(search.line_masks(stores, line_sku[sl], line_qty[sl]), np.uint64)
        bits = np.arange(sl.stop - sl.start, dtype=np.uint64)
        out[:, sl] = ((w[:, None] >> bits[None, :]) & np.uint64(1)).astype(bool)
    return out


def greedy_option(search: _core.OptionSearch, config: Config, promise_min: float, line_sku, line_qty,
                  d_store, d_eta, w_store, pickup: int) -> Option:
    """A feasible option for orders beyond the exact search's 64 distinct SKUs: up to m
    packages from stores in ETA order, each taking the open lines it holds, then warehouse
    parcels in the packages left (up to max_packages); the cheapest over m = max_packages
    down to 0 (so a basket the stores cannot complete goes by one parcel rather than leave
    lines unfilled). A pickup store takes what it holds. Not proven optimal."""
    n = len(line_sku)
    # the stores' lines, read as the walk reaches them, GREEDY_CHUNK stores a kernel call
    # (per 64 lines): a walk usually ends after a few stores, but one over a basket nobody
    # completes reads them all; closed or full stores take no part, the pickup store too
    every = [int(x) for x in np.concatenate([np.asarray(d_store, np.int32), np.asarray(w_store, np.int32),
                                             np.asarray([pickup] if pickup >= 0 else [], np.int32)])]
    at = {st: i for i, st in enumerate(every)}
    masks: dict[int, np.ndarray | None] = {}

    def mask_of(store):
        if store not in masks:
            i = at[store]
            chunk = [x for x in every[i:i + GREEDY_CHUNK] if x not in masks]
            for st, row in zip(chunk, line_holds(search, chunk, line_sku, line_qty)):
                masks[st] = row if (search.is_usable(st) and row.any()) else None
        return masks[store]

    def fill(passes) -> Option:
        owner = np.full(n, -1, np.int64)
        packages: list[Package] = []
        for kind, stores, etas, limit in passes:
            for s, e in zip(stores, etas):
                if len(packages) >= limit or (owner >= 0).all():
                    break
                m = mask_of(int(s))
                if m is None:
                    continue
                take = m & (owner < 0)
                if take.any():
                    owner[take] = s
                    packages.append(Package(int(s), kind, float(e), tuple(np.flatnonzero(take).tolist())))
        eta = max((p.eta_min for p in packages), default=0.0)
        unfilled = tuple(np.flatnonzero(owner < 0).tolist())
        br = cost_breakdown(config, promise_min, eta, len(packages), sum(p.kind == "parcel" for p in packages), 0,
                            len(unfilled))
        return Option(br["total"], eta, tuple(packages), unfilled, br)

    if pickup >= 0:
        return fill([("pickup", [pickup], [float(search.handling_of(pickup))], 1)])
    k = config.limits.max_packages
    parcels = ("parcel", w_store, [config.travel.parcel_lead_min] * len(w_store), k)
    tries = [fill([("deliver", d_store, d_eta, m), parcels]) for m in range(k, -1, -1)]
    return min(tries, key=lambda x: x.cost)  # the first of equal costs: the most from stores


def plan_rows(option: Option, order_id: str, skus, qtys, line_of: Sequence[int], promise_min: float, store_ids,
              home_store: str | None, reasons: dict[int, str]) -> list[dict]:
    """The order's input lines in the plan format (docs/file-formats.md), in input order.

    ``line_of[k]`` is input line k's merged position; ``reasons`` the unfilled reason per
    merged line. Packages are numbered 1..n by ETA, then store. A row's ``on_time`` is its
    order's (``Option.on_time``): a line delivered in time in an order that is late, or
    that leaves a line unfilled, is not on time.
    """
    order_on_time = option.on_time(promise_min)
    where: dict[int, tuple] = {}
    for n, p in enumerate(option.packages, start=1):
        mode = {"deliver": "deliver", "pickup": "pickup", "parcel": "parcel"}[p.kind]
        for j in p.lines:
            where[j] = (store_ids[p.store], mode, None, n, p.eta_min)
        for b, lines in p.transfers:
            for j in lines:
                where[j] = (store_ids[b], "transfer", store_ids[p.store], n, p.eta_min)
    rows = []
    for k, (s, q) in enumerate(zip(skus, qtys)):
        j = line_of[k]
        w = where.get(j)
        if w is None:
            rows.append({"order_id": order_id, "sku": s, "qty": int(q), "source_id": None, "mode": "unfilled",
                         "via_id": None, "package": None, "eta_min": None, "promise_min": promise_min,
                         "on_time": False, "reason": reasons.get(j, "unfilled"), "home_store": home_store})
        else:
            src, mode, via, n, eta = w
            rows.append({"order_id": order_id, "sku": s, "qty": int(q), "source_id": src, "mode": mode,
                         "via_id": via, "package": n, "eta_min": float(eta), "promise_min": promise_min,
                         "on_time": order_on_time, "reason": None, "home_store": home_store})
    return rows


def row_packages(rows, index) -> tuple[dict, set]:
    """What plan rows send: ``packages`` {(order_id, package): (store, mode)}, each at the
    store that delivers or prepares it (a transfer's receiving store; mode "transfer" when
    all its lines came in by transfer), and ``transfers`` {(order_id, package, sender,
    receiver)} (a transfer feeds one package: after a rejection an order may hold two
    packages at one store, each with a transfer from the same sender).
    ``index`` maps a store id to its position. Unfilled rows send nothing. What a plan
    spends of each store's capacity (one per package, one per transfer sent) and how a
    day's KPIs count packages, parcels and transfers."""
    packages: dict = {}
    transfers: set = set()
    for r in rows:
        mode = r["mode"]
        if mode == "unfilled":
            continue
        s = index[str(r["source_id"])]
        key = (r["order_id"], r["package"])
        if mode == "transfer":
            a = index[str(r["via_id"])]
            packages.setdefault(key, (a, "transfer"))
            transfers.add((r["order_id"], r["package"], s, a))
        else:
            packages[key] = (s, mode)
    return packages, transfers


__all__ = [
    "ElementKind",
    "MAX_EXACT_LINES",
    "REASONS",
    "ON_TIME_TOL_MIN",
    "Option",
    "Package",
    "cost_breakdown",
    "delivery_reach",
    "greedy_option",
    "is_on_time",
    "line_holds",
    "merge_lines",
    "option_from_search",
    "plan_rows",
    "row_packages",
    "unfilled_reasons",
]
