"""The data's fingerprint guards every resume, export and finalize; a run made with a datamodule
or recipe given as an object needs it again; a user's recipe is checked before anything is
written. Each refusal is one sentence and exit 2 on the command line, ValueError in Python, and
leaves the run's folder as it was."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import optuna
import pytest
import torch
from folder_helpers import write_folder
from optuna.trial import TrialState
from search_helpers import fingerprint, refused
from user_recipe import AdamRecipe, BlobData

from nsearch import export, finalize, run
from nsearch.search import SearchSettings, run_study
from nsearch.search.fingerprint import DataFingerprint, data_differences
from nsearch.search.run_info import RunInfo

QUICK = {"space": "mobilenet-uniform", "trials": 1, "epochs": 1, "min_accuracy": 5.0, "rungs": "",
         "timeout": None, "sampler": "tpe"}  # fmt: skip
ARGS = ["--space", "mobilenet-uniform", "--trials", "1", "--epochs", "1", "--min-accuracy", "5", "--rungs", "",
        "--sampler", "tpe", "--no-progress"]  # fmt: skip


class FiveClasses(BlobData):
    classes = ("a", "b", "c", "d", "e")


class PercentRecipe(AdamRecipe):
    """Logs val_acc in percent."""

    def validation_step(self, batch: object, _: int) -> None:
        x, y = batch  # type: ignore[misc]
        self.log("val_acc", 100 * (self(x).argmax(1) == y).float().mean())


def plain_network(network: torch.nn.Module) -> torch.nn.Module:
    """A recipe that forgets the LightningModule."""
    return torch.nn.Sequential(network)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-class folder and the run searched on it."""
    root = tmp_path_factory.mktemp("folder")
    data = write_folder(root / "photos", per_class=10, test_per_class=3, size=16, classes=2)
    out = root / "out"
    assert run.main([*ARGS, "--data", "imagefolder", "--data-dir", str(data), "--out",
                     str(out)]) == 0  # fmt: skip
    return data, out


@pytest.fixture(scope="module")
def object_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run made from Python with a datamodule and a recipe given as objects."""
    out = tmp_path_factory.mktemp("objects") / "out"
    run_study(SearchSettings(**QUICK), out, datamodule=BlobData(), module=AdamRecipe,
              progress=False)  # fmt: skip
    return out


def changed_copy(folder_run: tuple[Path, Path], tmp_path: Path, change: str) -> tuple[Path, Path]:
    """Copies of the run and its folder, the folder changed (``none``: the run alone)."""
    if change == "none":
        return folder_run[0], shutil.copytree(folder_run[1], tmp_path / "out")
    data, out = (shutil.copytree(p, tmp_path / p.name) for p in folder_run)
    if change == "class added":
        write_folder(tmp_path / "extra", per_class=10, test_per_class=3, size=16, classes=3)
        for split in ("train", "test"):
            shutil.copytree(tmp_path / "extra" / split / "class2", data / split / "class2")
    elif change == "images added":
        write_folder(tmp_path / "extra", per_class=20, test_per_class=3, size=16, classes=2)
        for i in range(10, 20):
            for c in range(2):
                shutil.copy(tmp_path / "extra" / "train" / f"class{c}" / f"{i}.png",
                            data / "train" / f"class{c}" / f"{i}.png")  # fmt: skip
    elif change == "image replaced":
        target = data / "train" / "class0" / "0.png"
        target.write_bytes((data / "train" / "class1" / "0.png").read_bytes() + b"\0")
    # the run's folder names its data by absolute path: point it at the copy (its study's own
    # record of the settings is not changed, but the data is compared first)
    info = RunInfo.read(out)
    settings = dataclasses.replace(info.settings, data_dir=str(data.resolve()))
    dataclasses.replace(info, settings=settings).write(out)
    return data, out


CHANGES = [
    ("class added", r"2 classes -> 3: 'class2' was added"),
    ("images added", r"16 training images -> 32; 4 validation images -> 8"),
    ("image replaced", r"the same number of images, but other file names or sizes"),
]


@pytest.mark.parametrize(("change", "match"), CHANGES, ids=[c[0] for c in CHANGES])
def test_changed_folder_is_refused_on_resume_export_and_finalize(
    folder_run: tuple[Path, Path], tmp_path: Path, change: str, match: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data, out = changed_copy(folder_run, tmp_path, change)
    before = fingerprint(out)
    err = refused(run.main, [*ARGS, "--trials", "2", "--data", "imagefolder", "--data-dir",
                             str(data), "--out", str(out)], capsys)  # fmt: skip
    assert re.search(f"was searched on other data \\({match}", err), err
    assert "new --out" in err
    for main in (export.main, finalize.main):
        err = refused(main, ["--out", str(out), "--rank", "1", "--formats", "pt2"], capsys)
        assert re.search(f"The data is not what .* was searched on \\({match}", err), err
    assert fingerprint(out) == before  # nothing written, nothing lost


def test_the_unchanged_folder_resumes_and_records_its_fingerprint(
    folder_run: tuple[Path, Path], tmp_path: Path
) -> None:
    data, out = changed_copy(folder_run, tmp_path, "none")
    recorded = RunInfo.read(out).fingerprint
    assert recorded is not None and recorded.source == "imagefolder"
    assert recorded.classes == ("class0", "class1") and recorded.input_shape == (3, 16, 16)
    assert (recorded.train_images, recorded.val_images, recorded.test_images) == (16, 4, 6)
    assert recorded.mean is not None and recorded.digest
    assert run.main([*ARGS, "--trials", "2", "--data", "imagefolder", "--data-dir", str(data),
                     "--out", str(out)]) == 0  # fmt: skip
    assert RunInfo.read(out).fingerprint == recorded


def test_a_machine_joining_the_study_is_checked_by_its_data_not_its_path(
    folder_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    shared = [*ARGS, "--data", "imagefolder", "--storage", storage, "--study-name", "shared"]
    assert run.main([*shared, "--data-dir", str(folder_run[0]), "--out", str(tmp_path / "a")]) == 0
    # another machine: its own --out, the same images in a folder of its own
    elsewhere = shutil.copytree(folder_run[0], tmp_path / "elsewhere")
    assert run.main([*shared, "--trials", "2", "--data-dir", str(elsewhere), "--out",
                     str(tmp_path / "b")]) == 0  # fmt: skip
    (tmp_path / "c").mkdir()
    other, _ = changed_copy(folder_run, tmp_path / "c", "images added")
    err = refused(run.main, [*shared, "--trials", "3", "--data-dir", str(other), "--out",
                             str(tmp_path / "d")], capsys)  # fmt: skip
    assert re.search(r"The study 'shared' was searched on other data \(16 training images -> "
                     r"32; .*choose another --study-name", err), err  # fmt: skip
    assert not (tmp_path / "d").exists()
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2


def test_a_datamodule_object_run_needs_the_object_again(
    object_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nsearch.deployment import export_trial
    from nsearch.deployment import finalize as finalize_run

    assert "# nsearch: mobilenet-uniform on BlobData" in (object_run / "report.md").read_text()
    assert RunInfo.read(object_run).study_name == "nsearch-mobilenet-uniform-BlobData-netscore"
    before = fingerprint(object_run)
    for main in (export.main, finalize.main):
        err = refused(main, ["--out", str(object_run), "--rank", "1"], capsys)
        assert "was searched on a LightningDataModule given as an object of class BlobData" in err
        assert f"nsearch.deployment.{'export_trial' if main is export.main else 'finalize'}(" \
               f"{str(object_run)!r}, rank=1, datamodule=...)" in err  # fmt: skip
    with pytest.raises(ValueError, match=r"recipe given as the object AdamRecipe: finalize it "
                                         r"from Python .* module=\.\.\.\)"):  # fmt: skip
        finalize_run(object_run, rank=1, datamodule=BlobData())
    with pytest.raises(ValueError, match=r"\(classes \['red', 'green', 'blue'\] -> \['a', "
                                         r".*\): export with the search's data, or search this "
                                         r"data with a new --out\."):  # fmt: skip
        export_trial(object_run, rank=1, datamodule=FiveClasses(), formats=("pt2",))
    with pytest.raises(ValueError, match=r"was searched on other data \(classes \['red', "
                                         r"'green', 'blue'\] -> \['a', 'b', 'c', 'd', 'e'\]"):
        run_study(SearchSettings(**{**QUICK, "trials": 2}), object_run,
                  datamodule=FiveClasses(), module=AdamRecipe, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"resume it from Python with that datamodule passed "
                                         r"again, as nsearch\.run_study\(settings, "):  # fmt: skip
        run_study(SearchSettings(**{**QUICK, "trials": 2}), object_run, progress=False)
    assert fingerprint(object_run) == before
    assert not (object_run / "final").exists() and not (object_run / "export").exists()
    bundle = export_trial(object_run, rank=1, datamodule=BlobData(), dest=tmp_path / "e",
                          formats=("pt2",))  # fmt: skip
    assert all(p.ok and p.n_images == 60 for p in bundle.description.parities)


RECIPES = [
    ("test_data_fingerprint:PercentRecipe",
     r"logs `val_acc` = \d+(\.\d+)?, outside \[0, 1\]: log the validation accuracy as a "
     r"fraction"),
    ("test_data_fingerprint:plain_network",
     r"must return a LightningModule that trains the network it is given, got Sequential"),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "match"), RECIPES, ids=["percent", "no LightningModule"])
def test_a_bad_recipe_is_refused_before_anything_is_written(
    recipe: str, match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    err = refused(run.main, [*ARGS, "--datamodule", "user_recipe:BlobData", "--module", recipe,
                             "--out", str(out)], capsys)  # fmt: skip
    assert re.search(match, err), err
    assert not out.exists()


def test_a_bad_recipe_on_resume_leaves_the_study_untouched(
    object_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(object_run)
    with pytest.raises(ValueError, match=r"logs `val_acc` = .*outside \[0, 1\]"):
        run_study(SearchSettings(**{**QUICK, "trials": 2}), object_run, datamodule=BlobData(),
                  module=PercentRecipe, progress=False)  # fmt: skip
    assert fingerprint(object_run) == before


def test_differences_say_what_changed() -> None:
    old = DataFingerprint("datamodule", "x:y", ("a", "b", "c"), (3, 8, 8), 30, 9, None,
                          dtypes="float32 images, int64 labels")  # fmt: skip
    removed = DataFingerprint("datamodule", "x:y", ("a", "c"), (1, 8, 8), 30, 9, 4,
                              dtypes="float64 images, int64 labels")  # fmt: skip
    assert data_differences(old, removed) == [
        "3 classes -> 2: 'b' was removed",
        "images 3 x 8 x 8 -> 1 x 8 x 8",
        "batches of float32 images, int64 labels -> float64 images, int64 labels",
    ]
    assert data_differences(old, old) == []
    assert DataFingerprint.from_dict(old.to_dict()) == old
