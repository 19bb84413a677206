"""Configuration: the travel and cost model (docs/cost-model.md), loadable from ``omnifill.toml``.

The section and key names are those of docs/cost-model.md; an unknown key is an error (a typo in a
cost must not silently fall back to a default). This module holds values only; the code that
uses them lives in geo (travel) and options (cost).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import InputError, Problem


@dataclass(frozen=True)
class Travel:
    circuity: float = 1.3  # road distance / great-circle distance
    courier_m_per_min: float = 250.0  # 15 km/h
    handling_min: float = 10.0  # pick and pack, unless the store row says otherwise
    transfer_m_per_min: float = 400.0  # 24 km/h
    transfer_handling_min: float = 15.0
    parcel_lead_min: float = 1440.0  # a warehouse parcel arrives the next day
    # the travel model (omnifill.travel.MODELS): "great_circle", or "road" with a road graph
    # (road_nodes and road_edges, or roads: an OpenStreetMap extract; paths as given, or
    # relative to the config file they were read from) at the hour of day `hour`
    provider: str = "great_circle"
    road_nodes: str = ""
    road_edges: str = ""
    roads: str = ""
    hour: float = 12.0


@dataclass(frozen=True)
class Cost:
    per_minute: float = 1.0
    per_package: float = 20.0
    per_parcel: float = 10.0
    per_transfer: float = 30.0
    late_per_minute: float = 10.0
    unfilled_per_line: float = 100000.0
    move_penalty: float = 5.0


@dataclass(frozen=True)
class Limits:
    max_packages: int = 3
    max_transfers: int = 1
    # the delivery area: a store's direct ETA beyond which (and beyond the promise) only
    # warehouse parcels serve an order; within it a late delivery is allowed and charged
    max_courier_min: float = 90.0


@dataclass(frozen=True)
class Rejections:
    # after a not_in_stock rejection the (store, SKU) takes no order for this long (minutes
    # of the router's clock), or until a stock update for it (docs/rejections.md)
    exclude_min: float = 240.0


# The option search keeps an option's elements in a fixed array (max_packages + max_transfers
# + 1 of them, at most 66): the limits it takes, checked here so that a config the search
# cannot run is refused when it is read, naming the key, not deep inside a reroute.
MAX_PACKAGES_LIMIT = 32
MAX_TRANSFERS_LIMIT = 32

# (section, key) -> rule: "pos" > 0, "nonneg" >= 0, "int1..32" an integer in 1..32,
# "int0..32" one in 0..32
_RULES = {
    ("travel", "circuity"): "pos",
    ("travel", "courier_m_per_min"): "pos",
    ("travel", "handling_min"): "nonneg",
    ("travel", "transfer_m_per_min"): "pos",
    ("travel", "transfer_handling_min"): "nonneg",
    ("travel", "parcel_lead_min"): "nonneg",
    ("limits", "max_packages"): "int1..32",
    ("limits", "max_transfers"): "int0..32",
    ("limits", "max_courier_min"): "pos",
    ("travel", "hour"): "hour",
}
# keys whose values are strings, not numbers
_TEXT_KEYS = {("travel", "provider"), ("travel", "road_nodes"), ("travel", "road_edges"), ("travel", "roads")}
_PATH_KEYS = ("road_nodes", "road_edges", "roads")
PROVIDERS = ("great_circle", "road")
SECTIONS = ("travel", "cost", "limits", "rejections")


@dataclass(frozen=True)
class Config:
    travel: Travel = field(default_factory=Travel)
    cost: Cost = field(default_factory=Cost)
    limits: Limits = field(default_factory=Limits)
    rejections: Rejections = field(default_factory=Rejections)

    def __post_init__(self) -> None:
        problems = []
        for sec in SECTIONS:
            for f in fields(getattr(self, sec)):
                v = getattr(getattr(self, sec), f.name)
                msg = _check(sec, f.name, v)
                if msg:
                    problems.append(Problem("<config>", None, f"{sec}.{f.name}", v, msg))
        problems += _check_travel_model(self.travel, "<config>")
        if problems:
            raise InputError(problems)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        """Read ``omnifill.toml``; every key is optional, unknown keys are errors."""
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise InputError([Problem(str(path), None, None, None, "file not found")]) from None
        except tomllib.TOMLDecodeError as e:
            raise InputError([Problem(str(path), None, None, None, f"not valid TOML: {e}")]) from None
        return cls.from_dict(data, source=str(path), base=path.parent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>",
                  base: str | os.PathLike[str] | None = None) -> Config:
        """base: the directory relative paths (the road graph's files) are read from."""
        problems = []
        parts: dict[str, Any] = {}
        for sec, klass in zip(SECTIONS, (Travel, Cost, Limits, Rejections)):
            raw = data.get(sec, {})
            if not isinstance(raw, dict):
                problems.append(Problem(source, None, sec, raw, "must be a table"))
                continue
            known = {f.name: f for f in fields(klass)}
            vals: dict[str, Any] = {}
            for k, v in raw.items():
                if k not in known:
                    problems.append(Problem(source, None, f"{sec}.{k}", v,
                                            f"unknown key; known keys: {', '.join(known)}"))
                    continue
                if (sec, k) in _TEXT_KEYS:
                    if not isinstance(v, str):
                        problems.append(Problem(source, None, f"{sec}.{k}", v, "must be a string"))
                    elif k == "provider" and v not in PROVIDERS:
                        problems.append(Problem(source, None, f"{sec}.{k}", v,
                                                f"unknown travel model; known: {', '.join(PROVIDERS)}"))
                    else:
                        vals[k] = str(Path(base) / v) if (k in _PATH_KEYS and v and base is not None) else v
                    continue
                want_int = isinstance(getattr(klass(), k), int)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or (want_int and not isinstance(v, int)):
                    problems.append(Problem(source, None, f"{sec}.{k}", v,
                                            "must be an integer" if want_int else "must be a number"))
                    continue
                msg = _check(sec, k, v)
                if msg:
                    problems.append(Problem(source, None, f"{sec}.{k}", v, msg))
                    continue
                vals[k] = int(v) if want_int else float(v)
            parts[sec] = klass(**vals)
        for sec in data:
            if sec not in SECTIONS:
                problems.append(Problem(source, None, sec, None,
                                        f"unknown section; known sections: {', '.join(SECTIONS)}"))
        if "travel" in parts:
            problems += _check_travel_model(parts["travel"], source)
        if problems:
            raise InputError(problems)
        return cls(**parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **sections: dict[str, Any]) -> Config:
        """A copy with some values changed: ``cfg.with_(travel={"circuity": 1.4})``."""
        return replace(self, **{k: replace(getattr(self, k), **v) for k, v in sections.items()})


def _check_travel_model(t: Travel, source: str) -> list[Problem]:
    # the provider and its road graph: the graph is road_nodes with road_edges, or roads
    if t.provider not in PROVIDERS:
        return [Problem(source, None, "travel.provider", t.provider,
                        f"unknown travel model; known: {', '.join(PROVIDERS)}")]
    given = [k for k in _PATH_KEYS if getattr(t, k)]
    if t.provider == "great_circle":
        if given:
            return [Problem(source, None, f"travel.{given[0]}", getattr(t, given[0]),
                            'a road graph needs provider = "road"')]
        return []
    if given not in (["road_nodes", "road_edges"], ["roads"]):
        key = ("travel.roads" if "roads" in given
               else "travel.road_edges" if "road_nodes" in given else "travel.road_nodes")
        return [Problem(source, None, key, getattr(t, key.split(".")[1]) or None,
                        'provider = "road" takes road_nodes with road_edges, or roads (an OpenStreetMap '
                        "extract): one of the two")]
    return []


def _check(sec: str, key: str, v: object) -> str | None:
    if (sec, key) in _TEXT_KEYS:
        return None if isinstance(v, str) else "must be a string"
    rule = _RULES.get((sec, key), "nonneg")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "must be a finite number"
    if rule == "pos" and not v > 0:
        return "must be > 0"
    if rule == "nonneg" and not v >= 0:
        return "must be >= 0"
    if rule == "hour" and not 0 <= v < 24:
        return "must be an hour of the day, 0 <= hour < 24"
    if rule.startswith("int"):
        lo, hi = (int(x) for x in rule[3:].split(".."))
        if not (isinstance(v, int) and lo <= v <= hi):
            return f"must be an integer from {lo} to {hi}"
    return None
