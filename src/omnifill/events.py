"""The event stream ``omnifill route`` replays: orders and order events in one JSON Lines file.

Each line is an order (the router's order format) or an event (docs/rejections.md, "The
event stream"):

    {"event": "reject", "order_id", "store_id", "skus", "reason", "found", "elapsed_min"}
    {"event": "cancel", "order_id"}        the order's reservation is released
    {"event": "ship", "order_id"}          the order was picked and sent (Router.complete)
    {"event": "stock", "store_id", "sku", "on_hand"}   a store's count (Router.update_stock)

``read_stream`` reads and checks the whole file before anything is routed: every problem that
can be seen without routing (a field, an unknown store, an event for an order no earlier line
placed) is listed, file, row, line and field named. ``replay`` applies the items in file order
and returns one record per decision; a problem only routing can show (a store rejecting a line
it was not given, an event for an order cancelled before) stops it with an InputError naming
the line. Either way the caller prints nothing unless the whole stream replayed.

This module routes through a Router and never reads stock itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputError, Problem
from .io import Problems, read_json_objects
from .model import Network, Order, order_of_json
from .rejections import RejectionError, check_rejection

if TYPE_CHECKING:
    from .router import Router

# event -> (required fields, optional fields)
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reject": (("order_id", "store_id"), ("skus", "reason", "found", "elapsed_min")),
    "cancel": (("order_id",), ()),
    "ship": (("order_id",), ()),
    "stock": (("store_id", "sku", "on_hand"), ()),
}


@dataclass(frozen=True)
class Event:
    """One event line of the stream, checked (``fields`` holds its values)."""

    kind: str
    fields: Mapping[str, Any]
    row: int
    line: int


def read_stream(path: str, network: Network, *, max_errors: int = 100) -> tuple[list[Order | Event], int]:
    """The orders and events of a JSON Lines file, in file order, and how many are events.
    Every problem found before routing is listed in one InputError."""
    probs = Problems(max_errors)
    known = network.store_index_map()
    out: list[Order | Event] = []
    placed: set[str] = set()
    n_events = 0
    for row, lineno, obj in read_json_objects(path, probs):

        def bad(col: str | None, val: object, msg: str, row: int = row, lineno: int = lineno) -> None:
            probs.add(Problem(path, row, col, val, msg, lineno))

        if "event" not in obj:
            o = order_of_json(obj, path, row, lineno, network, known, probs)
            if o is not None:
                placed.add(o.order_id)
                out.append(o)
            continue
        n_events += 1
        kind = obj["event"]
        if kind not in EVENT_FIELDS:
            bad("event", kind, f"unknown event; the events are {', '.join(EVENT_FIELDS)} (a line without "
                               "'event' is an order)")
            continue
        need, optional = EVENT_FIELDS[kind]
        fields = {k: v for k, v in obj.items() if k != "event"}
        ok = True
        for k in fields:
            if k not in need + optional:
                bad(k, fields[k], f"unknown field of a {kind} event; its fields are {', '.join(need + optional)}")
                ok = False
        for k in need:
            if fields.get(k) is None:
                bad(k, None, f"is missing (a {kind} event needs {', '.join(need)})")
                ok = False
        if not ok:
            continue
        if "order_id" in fields:
            oid = fields["order_id"]
            if not isinstance(oid, (str, int)) or isinstance(oid, bool):
                bad("order_id", oid, "must be a string")
                continue
            fields["order_id"] = str(oid)
            if fields["order_id"] not in placed:
                bad("order_id", oid, "no earlier line of the file places this order")
                continue
        if "store_id" in fields:
            sid = str(fields["store_id"])
            if sid not in known:
                bad("store_id", fields["store_id"], "unknown store (not in the stores file)")
                continue
            fields["store_id"] = sid
        if kind == "reject":
            ok = _check_reject(fields, bad)
        elif kind == "stock":
            ok = _check_stock(fields, bad)
        if ok:
            out.append(Event(kind, fields, row, lineno))
    probs.raise_if_any()
    return out, n_events


def _check_reject(f: dict[str, Any], bad: Any) -> bool:
    skus = f.get("skus")
    if skus is not None:
        if isinstance(skus, str):
            skus = f["skus"] = [skus]
        if not isinstance(skus, list) or not skus or not all(isinstance(s, (str, int)) and not isinstance(s, bool)
                                                              for s in skus):
            bad("skus", skus, "must be a non-empty list of SKUs (or left out: every line the store was given)")
            return False
        f["skus"] = [str(s) for s in skus]
    f.setdefault("reason", "not_in_stock")
    f.setdefault("elapsed_min", 0.0)
    try:  # the router's own checks, as far as they go before routing (which SKUs it was given)
        check_rejection(f["reason"], f.get("found"), f["elapsed_min"], f.get("skus"))
    except RejectionError as e:
        bad(e.field, f.get(e.field), str(e))
        return False
    return True


def _check_stock(f: dict[str, Any], bad: Any) -> bool:
    sku, n = f["sku"], f["on_hand"]
    if not isinstance(sku, (str, int)) or isinstance(sku, bool) or str(sku) == "":
        bad("sku", sku, "must be a non-empty string")
        return False
    f["sku"] = str(sku)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        bad("on_hand", n, "must be a whole number >= 0")
        return False
    return True


@dataclass
class Replayed:
    """What a replay gave: the decisions (dicts, each with the event that made it) and counts."""

    records: list[tuple[str, Any]]  # (what made it: "order" | "reject", the Decision)
    counts: dict[str, int]


def replay(router: Router, items: list[Order | Event], path: str, *, reserve: bool = True) -> Replayed:
    """Apply the stream in file order. Orders are routed (reserving unless ``reserve`` is
    False); each reject gives the order's new decision. InputError, naming the line, for an
    event the router refuses (a SKU the store was not given; an order with no reservation
    left)."""
    records: list[tuple[str, Any]] = []
    counts = {"orders": 0, "reject": 0, "cancel": 0, "ship": 0, "stock": 0}
    for it in items:
        if isinstance(it, Order):
            records.append(("order", router.route(it, reserve=reserve)))
            counts["orders"] += 1
            continue
        f = it.fields
        try:
            if it.kind == "reject":
                d = router.reject(f["order_id"], f["store_id"], f.get("skus"), reason=f["reason"],
                                  found=f.get("found"), elapsed_min=float(f["elapsed_min"]))
                records.append(("reject", d))
            elif it.kind == "cancel":
                if not router.release(f["order_id"]):
                    raise ValueError(f"order {f['order_id']!r} holds no reservation to cancel (cancelled or "
                                     "shipped before)")
            elif it.kind == "ship":
                if not router.complete(f["order_id"]):
                    raise ValueError(f"order {f['order_id']!r} holds no reservation to ship (cancelled or "
                                     "shipped before)")
            else:
                router.update_stock(f["store_id"], f["sku"], int(f["on_hand"]))
        except ValueError as e:
            col = e.field if isinstance(e, RejectionError) else ("order_id" if "order_id" in f else "store_id")
            raise InputError([Problem(path, it.row, col, f.get(col), f"{it.kind} event: {e}", it.line)]) from None
        counts[it.kind] += 1
    return Replayed(records, counts)


__all__ = ["EVENT_FIELDS", "Event", "Replayed", "read_stream", "replay"]
