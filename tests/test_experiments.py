"""The two long studies of issue 18 at tiny sizes: what they write is what the README reads.

The real runs take hours (``experiments/supernet_ranking.py``, ``experiments/bench_search.py``);
here each runs a few small networks on the embedded data, as a user would start it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def run_script(name: str, *args: str) -> None:
    done = subprocess.run([sys.executable, str(EXPERIMENTS / name), *args], capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_ranking_study_in_two_parts_writes_the_ceiling_and_every_estimator(tmp_path: Path) -> None:
    tiny = ["--data", "embedded", "--subnets", "5", "--seeds", "0", "1", "--train-limit", "200",
            "--epochs", "1", "--draws", "30", "--variants", "baseline", "--subsamples", "250",
            "--out", str(tmp_path)]  # fmt: skip
    run_script("supernet_ranking.py", *tiny, "--part", "variants")
    run_script("supernet_ranking.py", *tiny, "--part", "standalone")  # keeps the variants

    result = json.loads((tmp_path / "supernet_ranking.json").read_text())
    summary = result["summary"]
    assert summary["n_subnets"] == 5 and summary["seeds"] == 2
    for key in ("n_subnets", "seeds", "ceiling", "estimators"):  # the interface
        assert result[key] == summary[key]
    low, high = summary["ceiling"]["ci95"]
    assert -1 <= low <= summary["ceiling"]["kendall_tau"] <= high <= 1
    estimators = summary["estimators"]
    assert {"params", "macs", "synflow"} <= set(estimators)
    supernet = [name for name in estimators if name.startswith("supernet-baseline-")]
    assert any("-acc@" in name for name in supernet) and any("-loss@" in name for name in supernet)
    for runs in result["standalone"].values():  # trained: better than chance on ten classes
        assert len(runs) == 5 and all(r["accuracy_percent"] > 10 for r in runs)
    assert result["variants"]["baseline"]["train_seconds"] > 0


def test_benchmark_records_its_budget_and_the_per_seed_wins(tmp_path: Path) -> None:
    run_script("bench_search.py", "--seeds", "0", "--epoch-budget", "2", "--epochs", "1",
               "--train-limit", "200", "--methods", "nsearch", "random",
               "--out", str(tmp_path))  # fmt: skip

    result = json.loads((tmp_path / "bench_search.json").read_text())
    assert result["settings"]["epoch_budget"] == 2
    for method in ("nsearch", "random"):
        (run,) = result["methods"][method]
        assert run["seed"] == 0 and 2 <= run["epochs"] <= 3  # a trial started under budget ends
        assert 0 <= run["hypervolume_at_0.6_budget"] <= run["hypervolume"] <= 1
    for key in ("nsearch_vs_random_wins", "nsearch_at_0.6_budget_vs_random_wins"):
        assert result["summary"][key]["seeds"] == 1
    assert (tmp_path / "bench_search_fronts.png").stat().st_size > 0
