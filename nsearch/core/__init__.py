"""The pure core: NetScore and its units, accuracy intervals, rank agreement, Pareto selection.

Plain math on numbers (standard library only): every other layer builds on it, and it imports
none of them.
"""

from nsearch.core.metrics import (
    Measured,
    difference_interval,
    information_density,
    netscore,
    netscore_latency,
    netscore_or_inf,
    wilson_interval,
)
from nsearch.core.pareto import pareto_front
from nsearch.core.stats import RankAgreement, kendall_tau

__all__ = [
    "Measured",
    "RankAgreement",
    "difference_interval",
    "information_density",
    "kendall_tau",
    "netscore",
    "netscore_latency",
    "netscore_or_inf",
    "pareto_front",
    "wilson_interval",
]
