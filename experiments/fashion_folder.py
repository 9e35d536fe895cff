"""A user's own folder of images, measured: the full Fashion-MNIST written as an ImageFolder of
64x64 RGB PNG files, searched at its size, its best feasible model finalized and exported.

Three steps, each its own flag (all three by default):

- ``--write``: the 60,000 training and 10,000 test images of Debian's ``dataset-fashion-mnist``
  (or ``--source``) as ``DIR/train/<class>/*.png`` and ``DIR/test/<class>/*.png``, upscaled
  bilinearly from 28x28 to 64x64 and made RGB;
- ``--throughput``: training images per second of one network through the three ways images can
  reach it: held in memory as float32 tensors (as ``ImageDataModule`` holds the small sources), the
  uint8 cache read a row at a time, and decoded every epoch by two DataLoader workers; rounds
  alternate the three, and the ratios are of medians in one run;
- ``--search``: ``python -m nsearch.run --data imagefolder --data-dir DIR`` with the default budget,
  in a child process whose peak resident memory is recorded, then ``python -m nsearch.finalize``
  of the best feasible trial (``--epochs``, with ``--quantize int8``).

Writes ``results/fashion_folder.json`` after each step.

    python experiments/fashion_folder.py --dir /tmp/fashion64 --out-run /tmp/fashion64-run
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsearch.cost import machine_description
from nsearch.data import FolderDataModule, SourceOptions, TensorLoader, get_source
from nsearch.search_spaces import get_space
from nsearch.training import Classifier

RESULTS = Path(__file__).parent / "results"
SIZE = 64


def write(folder: Path, source: Path | None) -> dict[str, Any]:
    """The ImageFolder, unless it is there already."""
    from PIL import Image

    splits = get_source("fashion-mnist").load(source, SourceOptions())
    start = time.perf_counter()
    counts = {}
    for split, images, labels in (("train", splits.train_images, splits.train_labels),
                                  ("test", splits.test_images, splits.test_labels)):  # fmt: skip
        for c, name in enumerate(splits.classes):
            (folder / split / f"{c}-{name.replace('/', '-')}").mkdir(parents=True, exist_ok=True)
        counts[split] = len(labels)
        for i, (pixels, label) in enumerate(zip(images, labels)):
            name = splits.classes[int(label)].replace("/", "-")
            path = folder / split / f"{int(label)}-{name}" / f"{i:05d}.png"
            if not path.exists():
                image = Image.fromarray(pixels[0]).resize((SIZE, SIZE), Image.BILINEAR)
                image.convert("RGB").save(path)
    return {"images": counts, "seconds": round(time.perf_counter() - start, 1),
            "bytes": sum(p.stat().st_size for p in folder.rglob("*.png"))}  # fmt: skip


def _train_rate(loader: Any, model: torch.nn.Module, batches: int) -> float:
    """Training images per second over ``batches`` batches, after two to warm up."""
    module = Classifier(model, lr=0.05)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)
    seen, start = 0, 0.0
    for step, (x, y) in enumerate(loader):
        if step == 2:
            seen, start = 0, time.perf_counter()
        loss = torch.nn.functional.cross_entropy(module(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(y)
        if step == batches + 1:
            break
    return seen / (time.perf_counter() - start)


def throughput(folder: Path, cache: Path, rounds: int, batches: int) -> dict[str, Any]:
    """Images per second of the three ways, alternating, on the space's middle network."""
    cached = FolderDataModule(folder, cache=cache, train_limit=4000, seed=0)
    streamed = FolderDataModule(folder, cache=None, train_limit=4000, seed=0)
    cached.setup()
    streamed.setup()
    # the same 4,000 training images, decoded and normalised, held as float32 tensors
    batch = [b for b in cached.train_dataloader()]
    memory = TensorLoader(torch.cat([x for x, _ in batch]), torch.cat([y for _, y in batch]),
                          128, shuffle=True, flip=True)  # fmt: skip
    space = get_space("mobilenet")
    widths, depths = space.largest.widths, space.smallest.depths
    config = type(space.largest)(tuple(0.5 for _ in widths), depths)
    rates: dict[str, list[float]] = {"in_memory": [], "uint8_cache": [], "decode_workers": []}
    for _ in range(rounds):
        for name, loader in (("in_memory", memory), ("uint8_cache", cached.train_dataloader()),
                             ("decode_workers", streamed.train_dataloader())):  # fmt: skip
            torch.manual_seed(0)
            model = space.build(config, in_channels=3, num_classes=10, input_size=SIZE)
            rates[name].append(_train_rate(loader, model, batches))
            print(name, round(rates[name][-1], 1), flush=True)
    medians = {k: statistics.median(v) for k, v in rates.items()}
    return {"network": space.describe(config), "rounds": rates, "median_images_per_s": medians,
            "ratio_to_in_memory": {k: v / medians["in_memory"] for k, v in medians.items()}}


def _child(argv: list[str], module: str) -> dict[str, Any]:
    """Run ``python -m module argv`` in a child; its wall time, exit status and peak memory."""
    code = (f"import resource, sys\nfrom {module} import main\ncode = main({argv!r})\n"
            "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
            "sys.exit(code)")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    peak = [line for line in done.stdout.splitlines() if line.startswith("PEAK_MB")]
    print(done.stdout[-3000:], done.stderr[-2000:], flush=True)
    return {"exit": done.returncode, "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": float(peak[-1].split()[1]) if peak else None}  # fmt: skip


def search(folder: Path, out: Path, epochs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"search": _child(["--data", "imagefolder", "--data-dir",
                                                str(folder), "--out", str(out), "--no-progress"],
                                               "nsearch.run")}  # fmt: skip
    info = json.loads((out / "run.json").read_text())
    images = 48000 + 12000 + 10000
    result["in_memory_float32_mb"] = images * int(np.prod(info["input_shape"])) * 4 / 2**20
    pareto = [line.split(",") for line in (out / "pareto.csv").read_text().splitlines()]
    head, rows = pareto[0], pareto[1:]
    front = [dict(zip(head, row)) for row in rows]
    result["front"] = front
    best = next((r for r in front if r["best_feasible_netscore"] == "True"), front[0])
    result["finalize"] = _child(["--out", str(out), "--trial", best["trial"], "--epochs",
                                 str(epochs), "--quantize", "int8", "--no-progress"],
                                "nsearch.finalize")  # fmt: skip
    config = out / "final" / f"trial_{int(best['trial']):04d}" / "config.json"
    result["final_config"] = json.loads(config.read_text()) if config.is_file() else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/fashion64"),
                        help="Where the ImageFolder is written.")  # fmt: skip
    parser.add_argument("--out-run", type=Path, default=Path("/tmp/fashion64-run"),
                        help="The search's --out.")  # fmt: skip
    parser.add_argument("--source", type=Path, default=None,
                        help="Fashion-MNIST's files (default: Debian's package).")  # fmt: skip
    parser.add_argument("--steps", nargs="+", choices=("write", "throughput", "search"),
                        default=["write", "throughput", "search"])  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20, help="Timed batches per round.")
    parser.add_argument("--epochs", type=int, default=3, help="finalize's epochs.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    path = args.out / "fashion_folder.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    result["machine"] = machine_description()
    for step in args.steps:
        if step == "write":
            result["write"] = write(args.dir, args.source)
        elif step == "throughput":
            result["throughput"] = throughput(args.dir, args.out_run / "cache", args.rounds,
                                              args.batches)  # fmt: skip
        else:
            result["search"] = search(args.dir, args.out_run, args.epochs)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["this_process_peak_rss_mb"] = peak
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(step, "done", flush=True)


if __name__ == "__main__":
    main()
