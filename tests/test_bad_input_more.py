"""More bad input, each one sentence and exit 2 with nothing saved lost: an image that only fails
when decoded (truncated or corrupt, in either cache mode, in a DataLoader worker or not, on a
fresh run or a resume); int8 calibration of a folder with fewer images than the default count;
and an explicit ``--image-size`` equal to the folder's own on resume."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from folder_helpers import write_folder
from PIL import Image
from search_helpers import fingerprint, refused

from nsearch import export, finalize, run
from nsearch.data import FolderDataModule
from nsearch.data._folder import FolderImages, eval_transform

RUN = ["--space", "mobilenet-uniform", "--trials", "1", "--epochs", "1", "--min-accuracy", "5", "--rungs", "",
       "--sampler", "tpe", "--no-progress"]  # fmt: skip
# Five images a class: each split holds every class (a run that writes its results needs a
# validation and test accuracy above 0).
FINISHES = {"per_class": 5, "test_per_class": 1, "size": 16}
SENTENCE = r"nsearch: error: The image '{}' cannot be decoded \(.+\)\.$"


def truncate(path: Path) -> None:
    """Cut a valid image to half its bytes: its header still reads, its pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_keeping_size(path: Path) -> None:
    """Overwrite an image's pixel data (same size, so the same file list for the data's
    fingerprint): its header still reads, its pixels do not decode."""
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * (len(data) - 100))


def as_jpeg(path: Path) -> Path:
    jpeg = path.with_suffix(".jpg")
    Image.open(path).save(jpeg, quality=95)
    path.unlink()
    return jpeg


def search(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", "imagefolder", "--data-dir", str(data), "--out", str(out), *RUN, *extra]


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_an_undecodable_image_in_a_dataloader_worker_is_one_sentence_naming_it(
    kind: str, tmp_path: Path
) -> None:
    data = write_folder(tmp_path / "data", per_class=2, test_per_class=1, size=16)
    bad = data / "train" / "class1" / "0.png"
    bad = as_jpeg(bad) if kind == "jpeg" else bad
    truncate(bad)
    samples = [(str(p), 0) for p in sorted((data / "train").rglob("*.*"))]
    loader = torch.utils.data.DataLoader(FolderImages(samples, eval_transform(16)),
                                         batch_size=8, num_workers=1)  # fmt: skip
    with pytest.raises(ValueError) as caught:
        next(iter(loader))
    message = str(caught.value)  # Pillow's reason: "image file is truncated" for a PNG
    assert re.fullmatch(rf"The image {re.escape(repr(str(bad)))} cannot be decoded \(.+\)\.",
                        message), message  # fmt: skip


@pytest.mark.parametrize("cache", ["uint8", "none"])
def test_a_truncated_training_image_is_one_sentence_naming_it_in_both_cache_modes(
    cache: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "data", per_class=3, test_per_class=1, size=16)
    bad = data / "train" / "class1" / "0.png"
    truncate(bad)
    out = tmp_path / "out"
    err = refused(run.main, search(data, out, "--image-cache", cache), capsys)
    assert re.match(SENTENCE.format(re.escape(str(bad))), err), err
    assert not out.exists()  # a fresh run: nothing written, no partial cache left


@pytest.mark.parametrize("workers", [1, 2])
def test_a_truncated_validation_image_decoded_while_training_is_one_sentence_and_keeps_the_run(
    workers: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "data", per_class=3, test_per_class=1, size=16)
    folder = FolderDataModule(data, cache=None)
    folder.setup()
    bad = Path(folder.scan.train[int(folder._val[0])][0])  # decoded by a training worker only
    truncate(bad)
    out = tmp_path / "out"
    # with --workers 2 the search's processes meet the image, and their parent says it
    args = search(data, out, "--image-cache", "none", "--workers", str(workers))
    err = refused(run.main, args, capsys)
    assert re.match(SENTENCE.format(re.escape(str(bad))), err), err
    storage = "study.db" if workers == 1 else "study.journal"
    assert (out / "run.json").is_file() and (out / storage).is_file()


def test_a_bad_image_met_on_resume_leaves_the_run_as_it_was_and_no_partial_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "data", **FINISHES)
    out = tmp_path / "out"
    assert run.main(search(data, out)) == 0
    saved = fingerprint(out)
    bad = data / "test" / "class2" / "0.png"
    corrupt_keeping_size(bad)
    os.utime(bad, ns=(0, 10**18))  # a changed file: the cache is decoded again
    err = refused(run.main, search(data, out), capsys)
    assert re.match(SENTENCE.format(re.escape(str(bad))), err), err
    assert fingerprint(out) == saved  # run.json, study.db and the earlier cache, as they were
    assert not list((out / "cache").glob("*.part"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-trial search of a folder with 18 training images."""
    root = tmp_path_factory.mktemp("small")
    data = write_folder(root / "data", per_class=6, test_per_class=2, size=16)
    assert run.main(search(data, root / "out")) == 0
    return root / "out"


def test_int8_of_a_folder_with_fewer_images_than_the_default_calibrates_on_all_and_notes_it(
    small_run: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    dest = tmp_path / "export"
    argv = ["--out", str(small_run), "--rank", "1", "--dest", str(dest), "--quantize", "int8",
            "--formats", "onnx"]  # fmt: skip
    assert export.main(argv) == 0
    note = "int8 calibrated on 18 training images (all there are; 256 asked by default)."
    config = json.loads((dest / "config.json").read_text())
    assert note in config["notes"] and "model-int8.onnx" in config["int8"]
    assert f"- {note}" in (dest / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("tool", [export, finalize], ids=["export", "finalize"])
def test_an_explicit_calibration_count_above_the_training_images_is_refused(
    tool: object, small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = tool.__name__  # type: ignore[attr-defined]
    argv = ["--out", str(small_run), "--rank", "1", "--dest", str(tmp_path / "files"),
            "--quantize", "int8", "--calibration-images", "19"]  # fmt: skip
    err = refused(tool.main, argv, capsys)  # type: ignore[attr-defined]
    assert err == (f"{name}: error: `--calibration-images` must be between 1 and 18 (the "
                   "training images), got 19."), err  # fmt: skip
    assert not (tmp_path / "files").exists()


def test_an_explicit_calibration_count_your_datamodule_cannot_give_is_refused() -> None:
    from user_recipe import BlobData

    from nsearch.deployment.search_export import run_images
    from nsearch.search import SearchSettings
    from nsearch.search.run_info import RunInfo

    info = RunInfo(SearchSettings(datamodule="user_recipe:BlobData"), "study", "sqlite:///x",
                   False, (3, 24, 24), ("red", "green", "blue"), (0.0,) * 3, (1.0,) * 3)  # fmt: skip
    _, calibration = run_images(info, None, datamodule=BlobData())
    assert calibration is not None and len(calibration) == 192  # all there are, not 256
    with pytest.raises(ValueError, match=r"must be between 1 and 192 \(the training images\), "
                       r"got 1000\."):  # fmt: skip
        run_images(info, 1000, datamodule=BlobData())


@pytest.mark.parametrize(("first", "then"), [([], ["--image-size", "16"]),
                                             (["--image-size", "16"], [])],
                         ids=["own size, then 16", "16, then own size"])  # fmt: skip
def test_an_explicit_image_size_equal_to_the_folders_own_is_no_change_on_resume(
    first: list[str], then: list[str], tmp_path: Path
) -> None:
    data = write_folder(tmp_path / "data", **FINISHES)
    out = tmp_path / "out"
    assert run.main(search(data, out, *first)) == 0
    assert run.main(search(data, out, *then)) == 0  # resumed: its one trial is done
    info = json.loads((out / "run.json").read_text())
    assert info["input_shape"] == [3, 16, 16]
    assert len([t for t in (out / "trials.csv").read_text().splitlines()[1:] if t]) == 1


def test_another_image_size_on_resume_is_refused_with_the_sizes_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "data", **FINISHES)
    out = tmp_path / "out"
    assert run.main(search(data, out)) == 0
    saved = fingerprint(out)
    err = refused(run.main, search(data, out, "--image-size", "12"), capsys)
    assert "(--image-size 16 -> 12)" in err, err
    assert fingerprint(out) == saved


def test_a_trial_whose_bad_image_stopped_the_run_runs_again_once_the_image_is_mended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nsearch.search import open_run

    data = write_folder(tmp_path / "data", **FINISHES)
    folder = FolderDataModule(data, cache=None)
    folder.setup()
    bad = Path(folder.scan.train[int(folder._val[0])][0])  # met while the first trial trains
    original = bad.read_bytes()
    corrupt_keeping_size(bad)
    out = tmp_path / "out"
    refused(run.main, search(data, out, "--image-cache", "none"), capsys)
    stopped = open_run(out).study.trials[0]
    assert stopped.user_attrs["status"].startswith("stopped the run: UndecodableImage")
    bad.write_bytes(original)
    assert run.main(search(data, out, "--image-cache", "none")) == 0
    rerun = [t for t in open_run(out).study.trials if t.user_attrs.get("reruns") == 0]
    assert len(rerun) == 1 and rerun[0].params == stopped.params
    assert rerun[0].state.name == "COMPLETE"
    assert "1 interrupted (run again on resume)" in (out / "report.md").read_text()
