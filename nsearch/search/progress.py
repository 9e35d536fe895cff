"""The progress bar of a search: one for the whole study, with the best feasible NetScore so far."""

from __future__ import annotations

import optuna

from nsearch.search.results import read_records
from nsearch.search.selection import best_feasible
from nsearch.search.settings import SearchSettings

__all__ = ["Progress"]


class Progress:
    """One progress bar for the whole study, showing the best feasible NetScore so far."""

    def __init__(self, total: int, enabled: bool, settings: SearchSettings) -> None:
        from tqdm.auto import tqdm

        self.selection = settings.selection
        self.bar = tqdm(total=total, desc="trials", unit="trial", disable=not enabled)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.update(study, 1)

    def update(self, study: optuna.Study, finished: int) -> None:
        best = best_feasible(read_records(study), self.selection)
        self.bar.set_postfix_str(
            f"best feasible NetScore {best.netscore:.2f} (#{best.trial})"
            if best is not None and best.netscore is not None
            else "no feasible trial yet"
        )
        self.bar.update(finished)

    def close(self) -> None:
        self.bar.close()
