"""Store rejections: what a rejection means, what an order keeps, and the re-brokered option.

A store may refuse lines the router gave it (docs/rejections.md). ``Router.reject`` releases
them, applies the reason's effect on the store's stock (``Stock.apply_rejection``), and
re-routes them at once with the order's other packages kept. This module holds the parts of
that which are plain values and no state:

- ``REJECT_REASONS``: the reasons and their effect on stock;
- ``check_rejection``: the arguments of one rejection, checked, every mistake named;
- ``lines_given``: the (merged) lines an option has a store fill, in any part it plays;
- ``kept_option``: the option without the rejected lines (what the order keeps);
- ``combined_option``: the kept packages plus a re-route's option, as one option of the
  whole order, costed by the cost model on the order's clock.

It never searches, never touches stock and never explains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .config import Config
from .options import Option, Package, cost_breakdown

# reason -> its effect on the store's stock of the rejected SKU (docs/rejections.md)
REJECT_REASONS = {
    "not_in_stock": "the shelf is empty: available becomes 0 (on-hand falls to what the store still owes other "
                    "orders plus safety stock), and the (store, SKU) takes no order for [rejections] exclude_min "
                    "minutes or until a stock update for it",
    "mismatch": "the store counted the SKU: on-hand becomes `found`",
    "damaged": "the units are damaged: on-hand falls by the rejected quantity",
    "capacity": "the store cannot take the work now: no effect on stock",
    "closed": "the store is closed: no effect on stock, and the store takes part in no new decision",
    "other": "no effect on stock",
}


class RejectionError(ValueError):
    """A rejection the router refuses (nothing changed); ``field`` names the argument at
    fault: order_id, store_id, skus, reason, found or elapsed_min."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rejection:
    """One rejection as the router applied it (a decision's explanation lists them)."""

    store: int  # the rejecting store's index
    store_id: str
    skus: tuple[str, ...]  # the rejected (merged) lines' SKUs
    lines: tuple[int, ...]  # their merged positions
    reason: str
    found: Mapping[str, int] | None  # mismatch: the count per SKU
    elapsed_min: float  # minutes since the order when the lines were re-routed
    at_min: float  # the router's clock when it was applied

    def to_dict(self) -> dict:
        return {"store_id": self.store_id, "skus": list(self.skus), "reason": self.reason,
                "found": None if self.found is None else dict(self.found), "elapsed_min": self.elapsed_min}


def check_rejection(reason: object, found: object, elapsed_min: object,
                    skus: Sequence[str] | None) -> tuple[str, dict[str, int] | None, float]:
    """The reason, the found counts per SKU (mismatch only) and elapsed_min of one
    rejection of ``skus``, checked: a RejectionError names the argument and the value.
    ``skus`` None: the rejected SKUs are not known yet (an event stream read before it is
    routed): the counts are checked, not which SKUs they name (counts is then None)."""
    if reason not in REJECT_REASONS:
        raise RejectionError("reason", f"unknown reason {reason!r}: not a rejection reason; the reasons are "
                                       f"{', '.join(REJECT_REASONS)}")
    if isinstance(elapsed_min, bool) or not isinstance(elapsed_min, (int, float)) or not (
            math.isfinite(elapsed_min) and elapsed_min >= 0):
        raise RejectionError("elapsed_min", f"elapsed_min must be a finite number of minutes >= 0, got {elapsed_min!r}")
    counts: dict[str, int] | None = None
    if reason == "mismatch":
        if found is None:
            raise RejectionError("found", "a mismatch rejection needs found: the count the store made")
        if skus is None:
            for v in (found.values() if isinstance(found, Mapping) else [found]):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise RejectionError("found", f"found's counts must be whole numbers >= 0, got {found!r}")
            return str(reason), None, float(elapsed_min)
        if isinstance(found, Mapping):
            counts = {str(k): v for k, v in found.items()}
            extra = [k for k in counts if k not in skus]
            if extra:
                raise RejectionError("found", f"found names {extra[0]!r}, which is not a rejected SKU")
            missing = [s for s in skus if s not in counts]
            if missing:
                raise RejectionError("found", f"found has no count for the rejected SKU {missing[0]!r}")
        elif len(skus) == 1:
            counts = {skus[0]: found}  # type: ignore[dict-item]
        else:
            raise RejectionError("found", f"found must map each of the {len(skus)} rejected SKUs to its count, "
                                          f"got {found!r}")
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise RejectionError("found", f"found[{k!r}] must be a whole number >= 0, got {v!r}")
    elif found is not None:
        raise RejectionError("found", f"found is the count of a mismatch; a {reason} rejection takes none, "
                                      f"got {found!r}")
    return str(reason), counts, float(elapsed_min)


def lines_given(option: Option, store: int) -> list[int]:
    """The merged lines ``option`` has ``store`` fill: from its own stock in a package it
    sends or prepares, or sent by transfer; in line order."""
    out: set[int] = set()
    for p in option.packages:
        if p.store == store:
            out.update(p.lines)
        for b, lines in p.transfers:
            if b == store:
                out.update(lines)
    return sorted(out)


def kept_option(option: Option, store: int, lines: Iterable[int]) -> Option:
    """``option`` without ``store``'s part in ``lines``: its packages keep their other lines
    and their ETAs; a transfer left with no line is dropped, and so is a package left with
    no line and no transfer. Cost and breakdown are not recomputed (combined_option does)."""
    gone = set(lines)
    packages = []
    for p in option.packages:
        own = tuple(j for j in p.lines if not (p.store == store and j in gone))
        transfers = tuple((b, kept) for b, ls in p.transfers
                          if (kept := tuple(j for j in ls if not (b == store and j in gone))))
        if own or transfers:
            packages.append(Package(p.store, p.kind, p.eta_min, own, transfers))
    return Option(option.cost, option.eta_min, tuple(packages), option.unfilled, option.breakdown)


def combined_option(kept: Option, sub: Option, lines: Sequence[int], elapsed_min: float, config: Config,
                    promise_min: float) -> Option:
    """The whole order's option after a re-route: ``kept``'s packages as they are, and
    ``sub``'s (the re-routed lines' option, its lines numbered 0.. over ``lines``, its
    ETAs from the re-route's start) shifted onto the order's clock by ``elapsed_min``. A
    pickup order has one package: the re-route's lines and transfers join the kept pickup
    package, ready at the later of the two. The cost is the cost model's order cost of the
    result (the order's ETA is its latest package's)."""
    pickup_at = {p.store: k for k, p in enumerate(kept.packages) if p.kind == "pickup"}
    packages = list(kept.packages)
    for p in sub.packages:
        own = tuple(lines[j] for j in p.lines)
        transfers = tuple((b, tuple(lines[j] for j in ls)) for b, ls in p.transfers)
        eta = p.eta_min + elapsed_min
        k = pickup_at.get(p.store) if p.kind == "pickup" else None
        if k is not None:
            old = packages[k]
            packages[k] = Package(old.store, "pickup", max(old.eta_min, eta), tuple(sorted(old.lines + own)),
                                  tuple(sorted(old.transfers + transfers)))
        else:
            packages.append(Package(p.store, p.kind, eta, own, transfers))
    packages.sort(key=lambda p: (p.eta_min, p.store))
    unfilled = tuple(sorted(set(kept.unfilled) | {lines[j] for j in sub.unfilled}))
    eta = max((p.eta_min for p in packages), default=0.0)
    br = cost_breakdown(config, promise_min, eta, len(packages), sum(p.kind == "parcel" for p in packages),
                        sum(len(p.transfers) for p in packages), len(unfilled))
    return Option(br["total"], eta, tuple(packages), unfilled, br)


__all__ = ["REJECT_REASONS", "Rejection", "RejectionError", "check_rejection", "combined_option", "kept_option",
           "lines_given"]
