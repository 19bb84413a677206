"""The travel model: how long a courier or a transfer takes between two points.

omnifill's default is the great circle times ``circuity`` at a courier's (or a transfer's)
speed, plus the store's handling (docs/cost-model.md, "Travel"); ``[travel] provider =
"road"`` puts a road graph in its place (``omnifill.roads``: docs/cost-model.md, "Road
travel"). Python code that needs a travel time or a reach asks the network's model
(``Network.travel``) instead of writing the formula again; the compiled kernel computes the
same model in its inner loops (``_core``: the candidate search's ETAs, the option search's
transfers), which it takes from the model as a kernel object (``TravelModel.kernel``, a
``_core.Legs``: exact leg minutes and the bounds that prune the searches). A new model is
one class implementing this interface, registered in ``MODELS``.

This module never reads files and never decides who ships what.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .config import Travel
from .geo import haversine_m


class TravelModel(Protocol):
    """What the rest of omnifill asks of a travel model."""

    @property
    def name(self) -> str:
        """The config's provider name."""

    def direct_eta(self, handling_min: ArrayLike, store_lat: ArrayLike, store_lon: ArrayLike, lat: ArrayLike,
                   lon: ArrayLike) -> NDArray[np.float64]:
        """A store's direct delivery ETA to a customer: handling plus the courier leg
        (arrays broadcast)."""

    def transfer_minutes(self, from_lat: ArrayLike, from_lon: ArrayLike, to_lat: ArrayLike,
                         to_lon: ArrayLike) -> NDArray[np.float64]:
        """A store-to-store transfer's travel time, its handling included."""

    def reach_m(self, minutes: ArrayLike) -> NDArray[np.float64]:
        """A great-circle distance no leg of ``minutes`` can exceed (for pruning a search:
        a valid upper bound on how far a courier gets)."""

    @property
    def kernel(self) -> _core.Legs:
        """The model as the compiled searches take it (``_core.Legs``): exact leg
        minutes, the grid's reach, lower bounds on relayed legs."""



@dataclass(frozen=True)
class GreatCircle:
    """The default model: ``circuity * great_circle / speed`` minutes a leg."""

    travel: Travel
    name: str = "great_circle"

    def courier_minutes(self, dist_m: ArrayLike) -> NDArray[np.float64]:
        t = self.travel
        return t.circuity * np.asarray(dist_m, np.float64) / t.courier_m_per_min

    def direct_eta(self, handling_min: ArrayLike, store_lat: ArrayLike, store_lon: ArrayLike, lat: ArrayLike,
                   lon: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(handling_min, np.float64) + self.courier_minutes(haversine_m(store_lat, store_lon, lat, lon))

    def transfer_minutes(self, from_lat: ArrayLike, from_lon: ArrayLike, to_lat: ArrayLike,
                         to_lon: ArrayLike) -> NDArray[np.float64]:
        t = self.travel
        d = haversine_m(from_lat, from_lon, to_lat, to_lon)
        return t.transfer_handling_min + t.circuity * np.asarray(d, np.float64) / t.transfer_m_per_min

    def reach_m(self, minutes: ArrayLike) -> NDArray[np.float64]:
        t = self.travel
        return np.asarray(minutes, np.float64) * t.courier_m_per_min / t.circuity

    @cached_property
    def kernel(self) -> _core.Legs:
        t = self.travel
        return _core.Legs(t.circuity, t.courier_m_per_min, t.transfer_m_per_min, t.transfer_handling_min)


def _road(travel: Travel, stores: Any) -> TravelModel:
    from .roads import road_model  # scipy's graph routines load only when a config asks for roads

    return road_model(travel, stores)


# The travel models a config may name (``[travel] provider``), by name: each takes the
# config's travel values and the network's stores (a ``StoresTable``, or None for a model
# asked without a network). A new model is one class implementing TravelModel, registered here.
MODELS: dict[str, Callable[[Travel, Any], TravelModel]] = {
    "great_circle": lambda travel, stores: GreatCircle(travel),
    "road": _road,
}


def describe(travel: Travel) -> dict[str, Any]:
    """What a decision's explanation says of the travel model its ETAs came from."""
    if travel.provider == "road":
        files = [travel.roads] if travel.roads else [travel.road_nodes, travel.road_edges]
        return {"model": "road", "graph": [os.path.basename(f) for f in files], "hour": travel.hour,
                "access_km_h": round(travel.courier_m_per_min * 0.06, 3), "circuity": travel.circuity}
    return {"model": "great_circle", "circuity": travel.circuity,
            "courier_km_h": round(travel.courier_m_per_min * 0.06, 3),
            "transfer_km_h": round(travel.transfer_m_per_min * 0.06, 3)}


def model_of(travel: Travel, stores: Any = None) -> TravelModel:
    """The travel model the config asks for (``travel.provider``), over ``stores``."""
    return MODELS[travel.provider](travel, stores)


__all__ = ["MODELS", "GreatCircle", "TravelModel", "describe", "model_of"]
