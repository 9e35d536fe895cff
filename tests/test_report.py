"""The report says which front models its sample size cannot tell apart."""

from __future__ import annotations

from nsearch.search.report import indistinguishable
from nsearch.search.results import TrialRecord


def record(trial: int, correct: int, images: int = 4000) -> TrialRecord:
    return TrialRecord(trial=trial, state="complete", architecture={}, val_correct=correct,
                       val_images=images)  # fmt: skip


def test_only_pairs_whose_difference_interval_holds_zero_are_ties() -> None:
    # 83.1 %, 82.5 % and 81.0 % of 4,000 images: neighbours overlap, the ends do not.
    front = [record(1, 3323), record(11, 3300), record(0, 3240)]
    ties = indistinguishable(front)
    assert ties == {1: [11], 11: [1, 0], 0: [11]}


def test_a_larger_sample_separates_what_a_smaller_one_cannot() -> None:
    assert indistinguishable([record(1, 83, 100), record(0, 81, 100)]) == {1: [0], 0: [1]}
    assert indistinguishable([record(1, 8300, 10000), record(0, 8100, 10000)]) == {1: [], 0: []}
