"""omnifill: route a retail chain's online orders to its stores.

The public surface: Network (stores, stock, zones; candidate search and coverage), OrderBatch,
Order, the online Router and its Decision, Config, and the error type InputError. See README.md
for the tour and docs/ for the file formats and the cost model.
"""

import logging

from .config import Config
from .decision import Decision
from .errors import InputError, Problem
from .model import Candidates, Coverage, Inventory, Network, Order, OrderBatch
from .router import Router

__version__ = "0.1.0"

logging.getLogger("omnifill").addHandler(logging.NullHandler())

__all__ = ["Candidates", "Config", "Coverage", "Decision", "InputError", "Inventory", "Network", "Order",
           "OrderBatch", "Problem", "Router", "__version__"]
