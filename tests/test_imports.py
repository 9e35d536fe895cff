"""What importing a light part of nsearch must not pull in: the settings and ``--help`` load
neither Lightning nor the training code; exporting loads no Lightning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pytorch_lightning", "lightning", "nsearch.training.classifier", "nsearch.search.trial",
         "nsearch.search.trial_training", "nsearch.search.runner")  # fmt: skip

REPORT = f"import json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"


def loaded(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    result = subprocess.run([sys.executable, "-c", f"{code}\n{REPORT}"], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "from nsearch.search import SearchSettings; SearchSettings()",
        "import nsearch.search.settings, nsearch.search.strategies, nsearch.search.objectives",
        "import runpy, sys, contextlib, io\n"
        "sys.argv = ['nsearch', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_module('nsearch.run', run_name='__main__')",
    ],
    ids=["SearchSettings()", "settings and tables", "--help"],
)
def test_settings_and_help_load_no_lightning_and_no_training_code(code: str) -> None:
    assert loaded(code) == []


def test_export_loads_no_lightning() -> None:
    assert not {"pytorch_lightning", "lightning"} & set(loaded("import nsearch.export"))
