"""``--latency-runtime``: each trial is timed in the runtime asked for, and ``trials.csv`` and
``run.json`` say which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import QUICK, read_csv

from nsearch.search import SearchSettings, run_study


@pytest.mark.parametrize("runtime", ["onnxruntime", "executorch"])
def test_each_trial_is_timed_in_the_runtime_asked_for(runtime: str, tmp_path: Path) -> None:
    pytest.importorskip(runtime)
    settings = SearchSettings(**{**QUICK, "trials": 1}, latency_runtime=runtime)
    run_study(settings, tmp_path, progress=False)
    (row,) = read_csv(tmp_path / "trials.csv")
    assert row["latency_runtime"] == runtime and float(row["latency_ms"]) > 0
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["latency_runtime"] == runtime
