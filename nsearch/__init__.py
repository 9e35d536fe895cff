"""nsearch: NetScore for PyTorch Lightning, and an Optuna search for small image classifiers.

Units everywhere: accuracy in percent, parameters in millions, MACs in billions (GMACs).
"""

from __future__ import annotations

from nsearch._version import __version__
from nsearch.core import (
    difference_interval,
    information_density,
    netscore,
    netscore_latency,
    pareto_front,
    wilson_interval,
)
from nsearch.cost import Complexity, Latency, count_complexity, count_params, measure_latency

__all__ = [
    "Complexity",
    "Latency",
    "count_complexity",
    "count_params",
    "difference_interval",
    "information_density",
    "measure_latency",
    "netscore",
    "netscore_latency",
    "pareto_front",
    "wilson_interval",
    "__version__",
]


def __getattr__(name: str) -> object:
    # The search pulls in Lightning and Optuna; import it only when it is asked for.
    if name in ("run_study", "SearchSettings", "open_run"):
        from nsearch import search

        return getattr(search, name)
    raise AttributeError(f"module 'nsearch' has no attribute {name!r}")
