"""How a search measures its candidates: every difference between strategies in one table.

- ``train``: each trial trains its network (with pruning, where the objective allows it).
- ``supernet``: one weight-sharing supernet is trained once; each trial scores a sub-network
  with its weights in seconds (a supernet estimate), and the estimated front's best few are
  then confirmed by training them on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nsearch.data import ImageDataModule
from nsearch.search.settings import SearchSettings
from nsearch.search.trial import TrialObjective

__all__ = ["STRATEGIES", "Strategy"]


@dataclass(frozen=True)
class Strategy:
    """One way to measure candidates.

    Attributes:
        name: the ``--strategy`` value.
        objective: makes the function Optuna calls for each trial (it may train a supernet
            first, or load it from the run's folder).
        finish: run once the study's trials are done (the confirmations), or None.
        check: refuses settings the strategy cannot run, before anything is written.
    """

    name: str
    objective: Callable[[SearchSettings, ImageDataModule, Path, bool], Callable[..., Any]]
    finish: Callable[[optuna.Study, SearchSettings, ImageDataModule, Path], Any] | None = None
    check: Callable[[SearchSettings], None] = lambda settings: None


def _supernet_objective(settings: SearchSettings, data: ImageDataModule, out: Path,
                        progress: bool) -> Callable[..., Any]:  # fmt: skip
    from nsearch.search.supernet import SupernetObjective, load_supernet

    return SupernetObjective(settings, data, out, load_supernet(settings, data, out,
                                                                progress=progress))  # fmt: skip


def _has_supernet(settings: SearchSettings) -> None:
    from nsearch.search_spaces import get_space

    if get_space(settings.space).supernet is None:
        raise ValueError(
            f"The space {settings.space!r} has no weight-sharing supernet; use --strategy train, "
            "or a stage-wise space (mobilenet, resnet)."
        )


def _confirm(study: optuna.Study, settings: SearchSettings, data: ImageDataModule,
             out: Path) -> Any:  # fmt: skip
    from nsearch.search.supernet import confirm

    return confirm(study, settings, data, out)


STRATEGIES: dict[str, Strategy] = {
    "train": Strategy(
        "train", lambda settings, data, out, progress: TrialObjective(settings, data, out)
    ),  # fmt: skip
    "supernet": Strategy("supernet", _supernet_objective, _confirm, _has_supernet),
}
