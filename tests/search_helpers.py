"""What the search tests share: quick settings and ways to read what a run wrote."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Two trials of one epoch on 384 training images: seconds each, and accurate enough (10 % floor).
QUICK: dict[str, Any] = {
    "space": "mobilenet-uniform",
    "trials": 2,
    "epochs": 1,
    "train_limit": 384,
    "min_accuracy": 10.0, "rungs": "",
    "timeout": None,
    "sampler": "tpe",  # the tests name the seeded sampler's candidates; cost-tpe has tests of its own
}
QUICK_ARGS = ["--space", "mobilenet-uniform", "--trials", "2", "--epochs", "1", "--train-limit",
              "384", "--min-accuracy", "10", "--rungs", "", "--sampler", "tpe", "--no-progress"]  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its SHA-256: equal fingerprints, nothing was altered."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def refused(main: Callable[[list[str]], int], argv: list[str],
            capsys: pytest.CaptureFixture[str]) -> str:  # fmt: skip
    """The one line a command-line tool printed when it refused ``argv`` with exit status 2
    (argparse's own errors included)."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err
