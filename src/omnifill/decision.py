"""A router's decision and its explanation.

``Decision`` is what ``Router.route`` returns: the chosen option's cost, ETA, whether it is
on time and proven, and (built on first access) its option, its plan rows and its
explanation. Those come from a ``DecisionRecord``, taken when the decision was made: the
candidates the search saw, their status, the search's answer (a ``_core.SearchResult``);
after a store rejected lines, from a ``RerouteRecord``: the decision before, the packages
kept, and the re-route's own DecisionRecord.

This module never searches and never touches stock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from . import _core
from .config import Config
from .model import Order
from .options import (
    REASONS,
    Option,
    all_unfilled,
    delivery_reach,
    option_from_search,
    plan_rows,
    unfilled_reasons,
)
from .rejections import Rejection, combined_option
from .travel import describe as describe_travel


@dataclass(frozen=True)
class Decision:
    """The router's answer for one order.

    cost: the order cost of the chosen option (the omnifill cost model); ``breakdown`` splits it by term.
    rows: the order's lines in the plan format, one dict per input line, in input
    order. explanation: the candidates considered, the runner-up and what bound the choice.
    breakdown, rows, option and explanation are built on first access, from a snapshot taken
    when the decision was made (so the order service pays for them only when it reads them).
    proven: the search finished, so the option is the minimum over the whole option space.
    priced_cost: for a priced router, the cost the search minimised: ``cost`` plus the
    expected cost of the option's lines being rejected (``Router(accept_rates=...)``) and
    the shadow prices of the units and capacity it uses (``Router(prices=...)``); None
    otherwise (and for a shadow-priced order whose priced search ran out of its budget).
    """

    order_id: str
    cost: float
    eta_min: float
    on_time: bool
    proven: bool
    reserved: bool
    priced_cost: float | None
    _snap: DecisionRecord | RerouteRecord = field(repr=False, compare=False)

    @classmethod
    def _made(cls, order_id: str, cost: float, eta_min: float, on_time: bool, proven: bool, reserved: bool,
              snap: DecisionRecord | RerouteRecord, priced_cost: float | None = None) -> Decision:
        # the router's constructor: the same fields, set at once (the frozen dataclass's
        # __init__ sets them one by one through object.__setattr__: 1.3 us of a 25 us decision)
        d = object.__new__(cls)
        d.__dict__.update(order_id=order_id, cost=cost, eta_min=eta_min, on_time=on_time, proven=proven,
                          reserved=reserved, priced_cost=priced_cost, _snap=snap)
        return d

    @cached_property
    def option(self) -> Option:
        """The chosen ``options.Option``: packages, transfers, unfilled lines."""
        return self._snap.option()

    @cached_property
    def breakdown(self) -> dict[str, float]:
        """The cost by the cost model's terms (minutes, packages, parcels, transfers, late, unfilled,
        moved) and their ``total``, recomputed from the option."""
        return self.option.breakdown

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        return self._snap.rows()

    @cached_property
    def explanation(self) -> dict[str, Any]:
        return self._snap.explain()

    @property
    def examined_lines(self) -> int:
        """The lines (a mask over the order's merged lines) that some store the search read
        could fill: what the unfilled reasons tell "cheaper unfilled" from "no stock" by."""
        return self._snap.examined_lines()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields, the cost breakdown, the rows and the explanation
        (``priced_cost`` only when the router priced expected rejections)."""
        out = {"order_id": self.order_id, "cost": self.cost, "eta_min": self.eta_min,
               "on_time": self.on_time, "proven": self.proven, "reserved": self.reserved}
        if self.priced_cost is not None:
            out["priced_cost"] = self.priced_cost
        return out | {"breakdown": self.breakdown, "rows": self.rows, "explanation": self.explanation}



# the candidates in an order's whole delivery reach, (store index, direct ETA) by ETA then
# store, asked again when an explanation needs those beyond the radius its search needed:
# (lat, lon, reach minutes) -> arrays; the stores' places never change, so the answer is the
# one the decision would have had
InReach = Callable[[float, float, float], tuple[np.ndarray, np.ndarray]]


class DecisionRecord:
    """What a decision's option, rows and explanation are built from, taken when the decision
    was made (stock changes after): the order, its merged lines, the candidates the search
    saw and their status, the search's answer. They are built from it on first access.

    The candidates are those within the radius the search needed (``searched_min``); a
    search over fewer than all in reach (``OptionSearch.route``) leaves them in its result
    (``cand_idx`` None here) and ``in_reach`` finds the rest when an explanation counts them."""

    __slots__ = (
        "_beyond",
        "_cands",
        "_examined",
        "_opt",
        "cand_status",
        "codes",
        "config",
        "elements",
        "eta",
        "has_warehouse",
        "in_reach",
        "line_of",
        "myopic",
        "order",
        "pickup",
        "pickup_state",
        "price_note",
        "priced_cost",
        "res",
        "shadow",
        "skus",
        "store_ids",
    )

    def __init__(self, order: Order, skus: Sequence[str], line_of: Sequence[int], codes: Sequence[int] | np.ndarray,
                 pickup: int, cand_idx: np.ndarray | None, cand_eta: np.ndarray | None,
                 cand_status: bytes | np.ndarray, pickup_state: tuple[bool, bool, float] | None,
                 res: _core.SearchResult | None, elements: list[Any] | Option | None, eta: float, config: Config,
                 store_ids: np.ndarray, has_warehouse: bool = True, in_reach: InReach | None = None) -> None:
        self.order, self.skus, self.line_of, self.codes, self.pickup = order, skus, line_of, codes, pickup
        self._cands: tuple[np.ndarray, np.ndarray] | None = (None if cand_idx is None or cand_eta is None
                                                             else (cand_idx, cand_eta))
        self.cand_status = cand_status  # per store (bytes of the whole network), or per candidate
        self.pickup_state = pickup_state  # (offers pickup, closed, capacity left)
        self.res = res  # the search's answer (None: greedy, or a pickup store that offers none)
        # the search's element list, an Option (greedy), or None: res's best option's
        self.elements = elements
        self.eta, self.config, self.store_ids = eta, config, store_ids
        self.has_warehouse = has_warehouse  # the order's city has a warehouse shipping parcels
        self.in_reach = in_reach
        self._opt: Option | None = None
        self._examined: dict[int, int] | None = None
        self._beyond: tuple[np.ndarray, np.ndarray] | None = None
        self.priced_cost: float | None = None  # the search's priced cost (a priced router)
        # what priced it: "rejections" (accept rates), "shadow" (shadow prices) or "both"
        self.price_note = "rejections"
        # under shadow prices, the cost model's own best (cost, eta, elements) when it is
        # cheaper than the chosen option by the cost model: a price changed the choice
        self.myopic: tuple[float, float, Any] | None = None
        self.shadow: Any = None  # the router's ShadowPrices when it decided (for myopic's price)

    @property
    def cands(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidates the search saw: (store index, direct ETA), by ETA then store."""
        if self._cands is None:
            res = self.res
            assert res is not None and res.cand_idx is not None and res.cand_eta is not None  # route's has them
            self._cands = (res.cand_idx, res.cand_eta)
        return self._cands

    @property
    def reach_min(self) -> float:
        """The order's delivery reach (the direct-ETA limit of the stores that may deliver it)."""
        return float(delivery_reach(self.order.promise_min, self.config.limits.max_courier_min))

    @property
    def searched_min(self) -> float:
        """The direct-ETA radius of the candidates the search saw (the reach, or less)."""
        if self.res is not None and self.res.searched_min < self.reach_min:
            return float(self.res.searched_min)
        return self.reach_min

    def beyond(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidates in reach beyond the radius the search needed: (store index, ETA),
        looked up once (the explanation and the unfilled reasons both ask)."""
        if self._beyond is None:
            if self.in_reach is None or self.searched_min >= self.reach_min:
                self._beyond = (np.zeros(0, np.int32), np.zeros(0))
            else:
                o = self.order
                idx, eta = self.in_reach(o.lat, o.lon, self.reach_min)
                n = len(self.cands[0])
                self._beyond = (idx[n:], eta[n:])
        return self._beyond

    @property
    def opt(self) -> Option:
        if self._opt is None:
            o = self.order
            if self.elements is None:
                assert self.res is not None
                self.elements = self.res.best[2]
            if isinstance(self.elements, Option):
                self._opt = self.elements
            elif not self.elements:
                self._opt = all_unfilled(self.config, o.promise_min, len(self.skus))
            else:
                self._opt = option_from_search((None, self.eta, self.elements), len(self.skus), self.pickup,
                                               self.config, o.promise_min)
        return self._opt

    def option(self) -> Option:
        return self.opt

    def rows(self) -> list[dict[str, Any]]:
        return _order_rows(self)

    @property
    def examined(self) -> dict[int, int]:
        """{store: mask} for every store whose stock the search read."""
        if self._examined is None:
            if self.res is None:
                self._examined = {}
            else:
                self._examined = dict(zip(self.res.examined_store.tolist(), self.res.examined_mask.tolist()))
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
        in_reach = (self.pickup >= 0 or len(self.cands[0]) > 0 or bool(examined) or self.has_warehouse
                    or len(self.beyond()[0]) > 0)
        return unfilled_reasons(self.opt.unfilled, self.codes,
                                pickup_state=self.pickup_state if self.pickup >= 0 else None,
                                in_reach=in_reach, seen=seen)

    def explain(self) -> dict[str, Any]:
        ids, config = self.store_ids, self.config
        o, opt = self.order, self.opt
        examined = self.examined
        sku_of = self.skus

        def lines(mask: int) -> list[str]:
            return [sku_of[j] for j, bit in enumerate(reversed(bin(mask)[2:])) if bit == "1"]

        # the candidates the search looked at (and those it could not use); the rest, farther
        # than any option that could still win, are counted
        cands = []
        cand_store = []  # the store index of each entry of cands
        skipped = []
        cand_idx, cand_eta = self.cands
        # the candidates the search saw, then those beyond the radius it needed (no option
        # using one could win): every store in reach, by ETA, with its status (per store from
        # the whole network's bytes; else the search's per candidate, and a farther one counts
        # as not examined unless the search read it as a transfer source: it reads usable ones)
        far_idx, far_eta = self.beyond()
        cand_list = cand_idx.tolist() + far_idx.tolist()
        all_eta = cand_eta.tolist() + far_eta.tolist()
        seen_status = self.cand_status
        status_of = ([seen_status[s] for s in cand_list] if isinstance(seen_status, bytes)
                     else seen_status.tolist() + [0] * len(far_idx))
        for k, (s, e) in enumerate(zip(cand_list, all_eta)):
            st = status_of[k]
            if st == 1:
                status = "closed"
            elif st == 2:
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
            assert self.pickup_state is not None  # a pickup order's record has it
            offers, closed, cap = self.pickup_state
            if not offers:
                bound.append(f"{o.pickup_store} does not offer pickup")
            elif closed:
                bound.append(f"{o.pickup_store} is closed")
            elif cap < 1:
                bound.append(f"{o.pickup_store} has no capacity left")
        elif not cand_list:
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
            in_time = [k for k, e in enumerate(cand_eta.tolist()) if e <= o.promise_min + 1e-9]
            if o.mode != "pickup" and not any(examined.get(cand_list[k], 0) == full for k in in_time):
                unexamined = sum(status_of[k] == 0 and cand_list[k] not in examined for k in in_time)
                bound.append(f"no store within {o.promise_min:g} minutes holds every line" if not unexamined else
                             f"no store examined within {o.promise_min:g} minutes holds every line")
            bound.append(f"late by {opt.eta_min - o.promise_min:.1f} min: no option within the promise costs less")
        reasons = self.reasons()
        for j, r in reasons.items():
            bound.append(f"line {sku_of[j]}: {REASONS[r]}")
        unpriced = None
        if self.priced_cost is not None:
            what = {"rejections": "expected for its lines being rejected (the stores' accept rates)",
                    "shadow": "in shadow prices of the stock and capacity it uses (what orders still to come "
                              "are forecast to need)",
                    "both": "in shadow prices and expected rejections"}[self.price_note]
            bound.append(f"chosen for its cost plus {self.priced_cost - opt.cost:.2f} {what}")
        if self.myopic is not None:
            my = option_from_search(self.myopic, len(sku_of), self.pickup, config, o.promise_min)
            assert self.priced_cost is not None and self.shadow is not None
            qty = [sum(q for k, (sk, q) in enumerate(o.lines) if self.line_of[k] == j) for j in range(len(sku_of))]
            price = self.shadow.price_of(my, sku_of, qty)
            bound.append(f"a price changed the choice: {my.describe(ids)} costs {opt.cost - my.cost:.2f} less by the "
                         f"cost model, but uses stock and capacity priced {price:.2f} for the orders forecast to "
                         f"come (priced cost {my.cost + price:.2f} against {self.priced_cost:.2f})")
            unpriced = {"option": my.describe(ids), "cost": round(my.cost, 6),
                        "priced_cost": round(my.cost + price, 6)}
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
            "searched_within_min": round(self.searched_min, 3),
            "travel": describe_travel(config.travel),
            "candidates_not_examined": {"count": len(skipped),
                                        "eta_min": ([round(min(skipped), 3), round(max(skipped), 3)] if skipped
                                                    else None)},
            "transfer_sources_examined": len(set(examined) - set(cand_list)),
            "runner_up": runner,
            "bound_by": bound,
            "proven_optimal": (bool(self.res.proven) if self.res is not None
                               else not isinstance(self.elements, Option)),
            "search_nodes": int(self.res.nodes) if self.res is not None else 0,
        } | ({} if self.priced_cost is None else {"priced_cost": round(self.priced_cost, 6)}) | (
            {} if unpriced is None else {"unpriced_best": unpriced})


def _order_rows(rec: DecisionRecord | RerouteRecord) -> list[dict[str, Any]]:
    # a record's order, one plan row per input line, from its option and unfilled reasons
    o = rec.order
    return plan_rows(rec.opt, o.order_id, [s for s, _ in o.lines], [q for _, q in o.lines], rec.line_of,
                     o.promise_min, rec.store_ids, o.home_store, rec.reasons())


class RerouteRecord:
    """A decision after a rejection (``Router.reject``): the whole order's option (the kept
    packages and the re-routed lines'), built from the decision before (``before``, a
    DecisionRecord or a RerouteRecord), the re-route's own DecisionRecord (``sub``: its
    lines are the order's merged lines ``lines``) and every rejection so far."""

    def __init__(self, before: DecisionRecord | RerouteRecord, kept: Option, whole: Option, sub: DecisionRecord,
                 lines: Sequence[int], rejections: tuple[Rejection, ...], res: _core.SearchResult | None,
                 config: Config, store_ids: np.ndarray) -> None:
        self.before, self.kept, self.whole, self.sub, self.lines = before, kept, whole, sub, list(lines)
        self.rejections = rejections
        self.res = res
        self.order: Order = before.order
        self.skus: Sequence[str] = before.skus
        self.line_of: Sequence[int] = before.line_of
        self.codes: Sequence[int] | np.ndarray = before.codes
        self.pickup: int = before.pickup
        self.config, self.store_ids = config, store_ids

    @property
    def opt(self) -> Option:
        return self.whole

    def option(self) -> Option:
        return self.whole

    def reasons(self) -> dict[int, str]:
        """Why each unfilled merged line is unfilled: the re-route's reasons for its lines,
        the decision before's for the lines it had left unfilled."""
        out = {j: r for j, r in self.before.reasons().items() if j in set(self.whole.unfilled)}
        for k, r in self.sub.reasons().items():
            out[self.lines[k]] = r
        return out

    def examined_lines(self) -> int:
        seen = self.before.examined_lines()
        sub = self.sub.examined_lines()
        for k, j in enumerate(self.lines):
            if (sub >> k) & 1:
                seen |= 1 << j
        return seen

    def rows(self) -> list[dict[str, Any]]:
        return _order_rows(self)

    def explain(self) -> dict[str, Any]:
        """The re-route's explanation (its candidates, what bound it), with the whole order's
        option and cost, the rejections that led to it and the packages the order kept."""
        ids, o = self.store_ids, self.order
        out = self.sub.explain()
        last = self.rejections[-1]
        out["chosen"] = self.whole.describe(ids)
        out["cost"] = round(self.whole.cost, 6)
        out["bound_by"] = [f"{last.store_id} rejected {', '.join(last.skus)} ({last.reason}) "
                           f"{last.elapsed_min:g} min after the order: re-routed, the order's other packages kept"
                           ] + out["bound_by"]
        out["rejections"] = [r.to_dict() for r in self.rejections]
        out["rerouted"] = {"skus": [self.skus[j] for j in self.lines], "elapsed_min": last.elapsed_min,
                           "kept": self.kept.describe(ids) if self.kept.packages else "nothing"}
        res = self.res
        if res is not None and res.runner_up is not None:
            n = len(self.lines)
            ru_sub = option_from_search(res.runner_up, n, self.pickup, self.config, o.promise_min)
            ru = combined_option(self.kept, ru_sub, self.lines, last.elapsed_min, self.config, o.promise_min)
            out["runner_up"] = {"option": ru.describe(ids), "cost": round(ru.cost, 6),
                                "cost_difference": round(ru.cost - self.whole.cost, 6),
                                "exact": bool(res.runner_up_exact)}
            if not res.runner_up_exact:
                out["runner_up"]["note"] = (f"every other option costs more than {res.window:g} above the chosen "
                                            "one; this is the cheapest of those the search met")
        return out


__all__ = ["Decision", "DecisionRecord", "RerouteRecord"]
