"""The travel model: how long a courier or a transfer takes between two points.

omnifill's default is the great circle times ``circuity`` at a courier's (or a transfer's)
speed, plus the store's handling (docs/cost-model.md, "Travel"). Python code that needs a
travel time or a reach asks the network's model (``Network.travel``) instead of writing the
formula again; the compiled kernel computes the same great-circle model in its inner loops
(``_core``: the candidate search's ETAs, the option search's transfers), from the same
config values, which it takes from the model as a kernel object (``TravelModel.kernel``:
exact leg minutes and the bounds that prune the searches). A road-network model implements
this interface and registers itself in ``MODELS``.

This module never reads files and never decides who ships what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .config import Travel
from .geo import haversine_m


class TravelModel(Protocol):
    """What the rest of omnifill asks of a travel model."""

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
    def kernel(self) -> _core.GreatCircleLegs:
        """The model as the compiled searches take it (``_core.GreatCircleLegs`` today):
        exact leg minutes from a chord, the grid's reach, lower bounds on relayed legs."""


@dataclass(frozen=True)
class GreatCircle:
    """The default model: ``circuity * great_circle / speed`` minutes a leg."""

    travel: Travel

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
    def kernel(self) -> _core.GreatCircleLegs:
        t = self.travel
        return _core.GreatCircleLegs(t.circuity, t.courier_m_per_min, t.transfer_m_per_min, t.transfer_handling_min)


# The travel models a config may name, by name. A new model is one class implementing
# TravelModel, registered here.
MODELS: dict[str, Callable[[Travel], TravelModel]] = {"great_circle": GreatCircle}


def model_of(travel: Travel) -> TravelModel:
    """The travel model the config asks for (today: the great circle)."""
    return MODELS["great_circle"](travel)


__all__ = ["MODELS", "GreatCircle", "TravelModel", "model_of"]
