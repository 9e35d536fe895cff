"""Bad input everywhere a user touches: one clear sentence, exit status 2, nothing altered."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from search_helpers import refused

from nsearch import export, run
from nsearch.search import SearchSettings, run_study

QUICK = ["--trials", "1", "--epochs", "1", "--train-limit", "128", "--rungs", "", "--no-progress"]


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("saved")
    run_study(
        SearchSettings(trials=1, epochs=1, train_limit=128, min_accuracy=5.0, rungs="", timeout=None),
        out,
        progress=False,
    )
    return out


CASES = [
    (
        "unknown space",
        ["--space", "vgg"],
        r"--space: invalid choice: 'vgg' \(choose from '?mobilenet'?, '?mobilenet-uniform'?, "
        r"'?resnet'?, '?resnet-uniform'?\)",
    ),
    ("unknown data", ["--data", "mnist"], r"--data: invalid choice: 'mnist'"),
    ("unknown objective", ["--objective", "accuracy"], r"--objective: invalid choice: 'accuracy'"),
    ("zero trials", ["--trials", "0"], r"--trials: must be at least 1, got 0"),
    ("negative trials", ["--trials", "-3"], r"--trials: must be at least 1, got -3"),
    ("trials not a number", ["--trials", "many"], r"--trials: expected a whole number, got 'many'"),
    ("zero epochs", ["--epochs", "0"], r"--epochs: must be at least 1, got 0"),
    ("negative timeout", ["--timeout", "-5"], r"--timeout: must be greater than 0, got -5"),
    ("zero workers", ["--workers", "0"], r"--workers: must be at least 1, got 0"),
    (
        "accuracy floor above 100",
        ["--min-accuracy", "120"],
        r"--min-accuracy: must be a percentage in \[0, 100\), got 120",
    ),
    (
        "negative params budget",
        ["--max-params", "-1"],
        r"--max-params: must be greater than 0, got -1",
    ),
    (
        "budget no network fits",
        ["--max-params", "0.001"],
        r"No network of space 'mobilenet' fits the budget: even the smallest has 0.0\d+ M params exceed --max-params 0.001 M",
    ),
    (
        "MACs budget no network fits",
        ["--max-macs", "1e-6"],
        r"even the smallest has 0.00\d+ GMACs exceed --max-macs 1e-06 GMACs",
    ),
    (
        "malformed storage URL",
        ["--storage", "study.db"],
        r"`--storage` must be an Optuna storage URL such as sqlite:///study.db, .* got 'study.db'",
    ),
    (
        "unparsable database URL",
        ["--storage", "postgresql://user@host:port/db"],
        r"is not a valid database URL|cannot be reached",
    ),
    (
        "unreachable database",
        ["--storage", "postgresql://nsearch:secret@127.0.0.1:1/nsearch"],
        r"The database of storage postgresql://nsearch:\*\*\*@127.0.0.1:1/nsearch cannot be reached",
    ),
    (
        "missing database driver",
        ["--storage", "mysql://u@127.0.0.1/db"],
        r"needs a database driver that is not installed",
    ),
    (
        "journal in a missing folder",
        ["--storage", "journal:/no/such/folder/j.log"],
        r"The journal storage 'journal:/no/such/folder/j.log' must name a file in an existing folder",
    ),
    (
        "data dir without files",
        ["--data", "fashion-mnist", "--data-dir", "{tmp}"],
        r"The data directory '.*' does not hold Fashion-MNIST: expected train-images-idx3-ubyte.gz",
    ),
    (
        "cifar10 without data dir",
        ["--data", "cifar10"],
        r"CIFAR-10 needs a data directory that holds the cifar-10-batches-py folder",
    ),
    (
        "imagefolder without train/",
        ["--data", "imagefolder", "--data-dir", "{tmp}"],
        r"An ImageFolder data directory needs a train/ folder",
    ),
    (
        "unknown latency runtime",
        ["--latency-runtime", "tvm"],
        r"--latency-runtime: invalid choice: 'tvm' \(choose from '?torch'?, '?onnxruntime'?, "
        r"'?executorch'?\)",
    ),
    ("out is a file", ["--out", "{file}"], r"`--out` '.*file' is a file, not a folder"),
    ("out cannot be written", ["--out", "{notdir}"], r"`--out` '.*' cannot be written|is a file"),
]


@pytest.mark.parametrize(("argv", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_sentence(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    values = {"{tmp}": str(tmp_path), "{file}": str(tmp_path / "file"),
              "{notdir}": str(tmp_path / "file" / "out")}  # fmt: skip
    argv = [values.get(a, a) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(run.main(argv + QUICK))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("nsearch")]
    assert len(lines) == 1, err
    assert re.search(match, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()  # nothing was written


def test_existing_study_with_other_objectives_is_refused_and_untouched(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(saved)
    name = "nsearch-mobilenet-embedded-netscore"
    storage = f"sqlite:///{saved / 'study.db'}"  # joined from another folder, as another machine
    code = run.main(["--out", str(tmp_path / "other"), "--storage", storage, "--objective",
                     "pareto", "--study-name", name, *QUICK])  # fmt: skip
    assert code == 2
    assert (
        "already exists with 1 objective(s), but --objective pareto needs 3"
        in capsys.readouterr().err
    )
    assert fingerprint(saved) == before


def test_other_data_for_a_saved_run_is_refused_and_leaves_it_untouched(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(saved)
    code = run.main(
        ["--out", str(saved), "--data", "fashion-mnist", "--data-dir", str(tmp_path), *QUICK]
    )
    assert code == 2 and "--data embedded -> fashion-mnist" in capsys.readouterr().err
    assert fingerprint(saved) == before


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--trial", "99"], r"Trial 99 has no trained model; the trials that do are: 0\."),
        (["--rank", "5"], r"`--rank` must be between 1 and 1 \(the front's size\), got 5\."),
        (["--rank", "0"], r"`--rank` must be between 1 and 1"),
        (["--rank", "1", "--quantize", "int4"],
         r"--quantize: invalid choice: 'int4' \(choose from '?int8'?\)"),
        (["--rank", "1", "--quantize", "int8", "--calibration-images", "0"],
         r"--calibration-images: must be at least 1, got 0"),
        (["--rank", "1", "--quantize", "int8", "--calibration-images", "20001"],
         r"`--calibration-images` must be between 1 and 20,000 \(the training images\), "
         r"got 20001\."),
    ],
)  # fmt: skip
def test_export_bad_choice(
    saved: Path, argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(saved)
    assert re.search(match, refused(export.main, ["--out", str(saved), *argv], capsys))
    assert fingerprint(saved) == before


def test_export_from_a_folder_without_a_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--out", str(tmp_path), "--trial", "0"]) == 2
    assert "holds no nsearch run (run.json is missing)" in capsys.readouterr().err


def test_a_latency_runtime_that_is_not_installed_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nsearch.cost import extras

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec",
                        lambda name: None if name == "executorch" else real(name))  # fmt: skip
    out = tmp_path / "out"
    assert run.main(["--latency-runtime", "executorch", "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "nsearch: error: The executorch runtime needs executorch, torchao, which are not all "
        "installed; install the deploy extra: pip install 'nsearch[deploy]'."
    )
    assert not out.exists()
