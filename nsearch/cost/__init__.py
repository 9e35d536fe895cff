"""What a network costs: parameters and multiply-accumulates (fvcore), the architecture key that
caches them, the runtimes a network is converted to, and its latency measured in each.

Built on :mod:`nsearch.core` and torch; no Lightning, no Optuna.
"""

from nsearch.cost import complexity, latency
from nsearch.cost.architecture import architecture_key
from nsearch.cost.complexity import CONVENTIONS, Complexity, count_complexity, count_params
from nsearch.cost.latency import RUNTIMES, Latency, measure_file_latency, measure_latency
from nsearch.cost.machine import machine_description

__all__ = [
    "CONVENTIONS",
    "RUNTIMES",
    "Complexity",
    "Latency",
    "architecture_key",
    "count_complexity",
    "count_params",
    "clear_caches",
    "machine_description",
    "measure_file_latency",
    "measure_latency",
]


def clear_caches() -> None:
    """Forget every cached count and latency (the next measurement of each runs again)."""
    complexity.clear_cache()
    latency.clear_cache()
