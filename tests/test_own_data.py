"""Your data and your recipe: an image folder at its own size, streamed; your LightningDataModule and
LightningModule in Python and by import path; and bad input, each one sentence and exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from folder_helpers import write_folder
from PIL import Image
from search_helpers import refused

from nsearch import run
from nsearch.data import scan_folder
from nsearch.data._folder import decode
from nsearch.search import SearchSettings, run_study
from nsearch.search_spaces import get_space

QUICK = {"space": "mobilenet-uniform", "trials": 1, "epochs": 1, "min_accuracy": 5.0, "rungs": "",
         "timeout": None, "sampler": "tpe"}  # fmt: skip
TESTS = Path(__file__).resolve().parent


def test_a_folder_is_searched_at_its_own_size_and_exported_for_it(tmp_path: Path) -> None:
    from nsearch.deployment import export_trial

    data = write_folder(tmp_path / "photos", size=40)
    out = tmp_path / "out"
    run_study(SearchSettings(**QUICK, data="imagefolder", data_dir=str(data)), out,
              progress=False)  # fmt: skip
    info = json.loads((out / "run.json").read_text())
    assert info["input_shape"] == [3, 40, 40]  # not shrunk to 32
    assert "centre-crop 40 x 40" in info["preprocessing"]
    assert "random resized crops" in info["augmentation"]
    assert "3 x 40 x 40" in (out / "report.md").read_text()
    bundle = export_trial(out, rank=1, dest=tmp_path / "export", formats=("pt2", "onnx"))
    config = json.loads(bundle.config.read_text())
    assert config["input"]["shape_chw"] == [3, 40, 40]
    assert config["input"]["preprocessing"] == info["preprocessing"]
    assert info["preprocessing"] in bundle.card.read_text()
    assert all(p.ok and p.n_images == 12 for p in bundle.description.parities)


def test_mixed_sizes_ask_for_an_image_size_and_get_resized_to_it(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "mixed", per_class=6, sizes=[(40, 40), (50, 30)])
    with pytest.raises(ValueError, match=r"are of 2 sizes \(40x40 and 50x30, \.\.\.\), not one "
                       r"square size; pass --image-size N"):  # fmt: skip
        scan_folder(data)
    settings = SearchSettings(**QUICK, data="imagefolder", data_dir=str(data), image_size=32,
                              augment="none", image_cache="none")  # fmt: skip
    run_study(settings, tmp_path / "out", progress=False)
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["input_shape"] == [3, 32, 32] and info["augmentation"] == "none"


@pytest.mark.parametrize("size", [64, 96, 128, 224])
@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_the_stage_wise_spaces_build_and_train_at(name: str, size: int) -> None:
    space = get_space(name)
    torch.manual_seed(0)
    model = space.build(space.smallest, in_channels=3, num_classes=5, input_size=size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.randn(4, 3, size, size), torch.tensor([0, 1, 2, 3])
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert model(images).shape == (4, 5) and torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def peak_rss_mb(folder: Path, out: Path) -> float:
    """The peak resident memory of a one-trial search over ``folder``, in MB."""
    code = (
        "import resource, sys\nfrom nsearch.run import main\n"
        f"code = main(['--data', 'imagefolder', '--data-dir', {str(folder)!r}, '--out', "
        f"{str(out)!r}, '--space', 'mobilenet-uniform', '--trials', '1', '--epochs', '1', "
        "'--train-limit', '64', '--batch-size', '32', '--min-accuracy', '5', '--rungs', '', '--sampler', "
        "'tpe', '--no-progress'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\nsys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_the_folder(tmp_path: Path) -> None:
    small = write_folder(tmp_path / "small", per_class=100, test_per_class=5, size=64, classes=2)
    large = write_folder(tmp_path / "large", per_class=3000, test_per_class=5, size=64, classes=2)
    peaks = [peak_rss_mb(f, tmp_path / f"out-{f.name}") for f in (small, large)]
    # Held in memory as float32 (as ImageDataModule holds its data), the 5,800 more images would
    # take 272 MB more. A process's peak varies by up to about 50 MB from run to run, whatever the
    # folder (measured: 1,516-1,560 MB for the small one), so the margin is half of that.
    extra = 5800 * 3 * 64 * 64 * 4 / 2**20
    assert peaks[1] - peaks[0] < 0.5 * extra, peaks


def test_grayscale_rgba_palette_and_16_bit_images_are_converted_and_said(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "modes", per_class=4, test_per_class=2, size=16)
    folder = data / "train" / "class0"
    rgb = Image.open(folder / "0.png")
    rgb.convert("L").save(folder / "0.png")
    rgb.convert("RGBA").save(folder / "1.png")
    rgb.convert("P").save(folder / "2.png")
    Image.fromarray((torch.arange(256).view(16, 16) * 257).numpy().astype("uint16")).save(
        folder / "3.png"
    )
    scan = scan_folder(data)
    assert scan.modes == ("I;16", "L", "P", "RGBA")
    assert "this folder's I;16, L, P, RGBA images included" in scan.preprocessing()
    sixteen = decode(str(folder / "3.png"))
    assert sixteen.mode == "RGB" and sixteen.getextrema()[0] == (0, 255)  # scaled, not clipped


def bad_folder(root: Path, case: str) -> Path:
    data = write_folder(root, per_class=3, test_per_class=1, size=16)
    if case == "undecodable":
        (data / "train" / "class1" / "broken.png").write_text("not a PNG")
    elif case == "empty class":
        (data / "train" / "class3").mkdir()
        (data / "test" / "class3").mkdir()
    elif case == "not an image":
        (data / "train" / "class0" / "notes.txt").write_text("labels")
    elif case == "other classes":
        for path in (data / "test" / "class2").iterdir():
            path.unlink()
        (data / "test" / "class2").rmdir()
    elif case == "one class":
        data = write_folder(root.with_name("one"), per_class=3, test_per_class=1, classes=1)
    return data


FOLDER_CASES = [
    ("undecodable", r"The image '.*broken\.png' cannot be decoded"),
    ("empty class", r"The class folder '.*class3' holds no images\."),
    ("not an image", r"'.*notes\.txt' is not an image \(the folders may hold \.jpg, "),
    ("other classes", r"has classes \['class0', 'class1'\] but train/ has \['class0', 'class1', "
                      r"'class2'\]; they must match\."),
    ("one class", r"has 1 class folder\(s\); a classifier needs at least two\."),
]  # fmt: skip
ARG_CASES = [
    (["--image-size", "0"], r"--image-size: must be at least 1, got 0"),
    (["--image-size", "-5"], r"--image-size: must be at least 1, got -5"),
    (["--data", "embedded", "--image-size", "64"],
     r"`--image-size` resizes the images of --data imagefolder; --data embedded has images of "
     r"one size\."),
    (["--datamodule", "nowhere.at_all:Data"], r"`--datamodule` 'nowhere\.at_all:Data' does not "
                                              r"import: ModuleNotFoundError"),
    (["--datamodule", "Data"], r"--datamodule: must be an import path such as "
                               r"package\.module:Name, got 'Data'"),
    (["--datamodule", "user_recipe:NOT_A_DATAMODULE"],
     r"must name a LightningDataModule class or a function of no arguments that returns one, "
     r"got int\."),
    (["--datamodule", "user_recipe:Unlabelled"],
     r"The datamodule's training batches must be \(images, labels\).* got a list of 1: a "
     r"torch\.float32 tensor of shape \(32, 3, 24, 24\)"),
    (["--datamodule", "user_recipe:OneClass"], r"The datamodule has 1 class\(es\)"),
    (["--datamodule", "user_recipe:BlobData", "--module", "user_recipe:NoAccuracy"],
     r"The training module must log `val_acc` .*; it logged: train_loss, val_loss\."),
    (["--datamodule", "user_recipe:BlobData", "--module", "user_recipe:NOT_A_DATAMODULE"],
     r"`--module` 'user_recipe:NOT_A_DATAMODULE' must name a function of the network"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "match"), FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_a_bad_folder_is_one_sentence_and_exit_2(
    case: str, match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bad_folder(tmp_path / "data", case)
    assert_refused(["--data", "imagefolder", "--data-dir", str(data)], match, tmp_path, capsys)


@pytest.mark.parametrize(("argv", "match"), ARG_CASES, ids=[" ".join(c[0]) for c in ARG_CASES])
def test_bad_data_and_recipes_are_one_sentence_and_exit_2(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--data" not in argv and "--datamodule" not in argv:
        argv = ["--data", "imagefolder", "--data-dir", str(write_folder(tmp_path / "d")), *argv]
    assert_refused(argv, match, tmp_path, capsys)


def assert_refused(argv: list[str], match: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "out"
    args = [*argv, "--out", str(out), "--space", "mobilenet-uniform", "--trials", "1",
            "--epochs", "1", "--no-progress"]  # fmt: skip
    err = refused(run.main, args, capsys)
    assert re.search(match, err), err
    assert not out.exists()  # nothing was written


def test_your_datamodule_and_module_from_python(tmp_path: Path) -> None:
    from user_recipe import AdamRecipe, BlobData

    from nsearch.deployment import export_trial

    settings = SearchSettings(**{**QUICK, "trials": 2, "epochs": 2})
    result = run_study(settings, tmp_path / "out", datamodule=BlobData(), module=AdamRecipe)
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["input_shape"] == [3, 24, 24] and info["classes"] == ["red", "green", "blue"]
    assert info["mean"] == [0.0] * 3 and info["std"] == [1.0] * 3
    assert all(r.val_images == 96 for r in result.records)  # the validation loader's images
    assert result.front and all(r.test_images == 60 for r in result.front)
    trained = result.front[0]
    assert trained.epochs_trained == 2 and trained.checkpoint  # trained with the user's recipe
    state = torch.load(tmp_path / "out" / trained.checkpoint, weights_only=False)
    assert state["optimizer_states"][0]["param_groups"][0]["lr"] == 3e-3  # Adam at their rate
    assert any(k.startswith("network.") for k in state["state_dict"])  # their attribute name
    bundle = export_trial(tmp_path / "out", rank=1, dest=tmp_path / "export",
                          datamodule=BlobData(), formats=("pt2",))  # fmt: skip
    assert "datamodule" in json.loads(bundle.config.read_text())["input"]["preprocessing"]
    assert all(p.ok and p.n_images == 60 for p in bundle.description.parities)


def test_your_datamodule_and_module_by_import_path_with_finalize(tmp_path: Path) -> None:
    env_path = f"{TESTS}"
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nsearch.run", "--datamodule", "user_recipe:blob_data",
               "--module", "user_recipe:AdamRecipe", "--space", "mobilenet-uniform", "--trials",
               "2", "--epochs", "2", "--min-accuracy", "5", "--rungs", "", "--sampler", "tpe", "--no-progress",
               "--out", str(out)]  # fmt: skip
    import os

    env = {**os.environ, "PYTHONPATH": env_path}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "run.json").read_text())["settings"]["datamodule"] == (
        "user_recipe:blob_data"
    )
    final = [sys.executable, "-m", "nsearch.finalize", "--out", str(out), "--rank", "1",
             "--epochs", "1", "--no-progress", "--formats", "pt2"]  # fmt: skip
    done = subprocess.run(final, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads(next((out / "final").glob("trial_*/config.json")).read_text())
    assert config["test_images"] == 60 and config["training"]["train_images"] == 192
    assert config["training"]["recipe"] == "your module user_recipe:AdamRecipe"
