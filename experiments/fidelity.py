"""Which cheap fidelity ranks networks as the final training does? The fidelity study.

Ground truth: ``--architectures`` networks of the ``mobilenet`` space spread over its log-MACs
(its smallest and largest network, and ``--uniform`` members of the hand-scaled
``mobilenet-uniform`` family among them), each trained by the final recipe
(``python -m nsearch.finalize``'s: ``--final-epochs`` on the training and validation images, then
tested on the test split), and the first ``--second-seed`` of them again with a second seed. The
ceiling is the Kendall tau between the two seeds; the truth is the seed-mean test accuracy.

Each network is also trained at every reduced fidelity of ``--fidelities`` (``EPOCHSxIMAGES``:
that many epochs on a stratified subset of that many training images, with its own schedule, as a
search trial trains) and validated on the validation split. Each fidelity and each estimator
(params, MACs, and the supernet scored as ``--strategy supernet`` scores) is judged by its tau
against the truth, with the 95 % interval, and by its top-k overlap (k a quarter of the networks);
the study names the cheapest fidelity whose tau reaches 0.8 x the ceiling.

Every training is one job. Jobs run network after network, in an order spread over cost (each
network's reduced fidelities, then its final runs; the supernet after the first
``SUPERNET_AFTER``), so a study cut short is a smaller study of the same kind. Each finished job
is appended to ``fidelity_runs.jsonl`` and ``fidelity.json`` rewritten from all of them; a second
run with the same ``--out`` and settings goes on with the jobs not done. ``--workers`` processes
take jobs from one list (on a GPU machine, several at once).

    python experiments/fidelity.py                        # 48 networks, about 10 h on two cores
    python experiments/fidelity.py --architectures 6 --uniform 1 --second-seed 5 \\
        --fidelities 1x200 1x400 --final-epochs 1 --train-limit 600 --out /tmp/fidelity
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import torch
from fidelity_networks import SPACE, architectures, build
from fidelity_summary import plot, print_networks, print_table, summarise

from nsearch.cost import machine_description
from nsearch.data import ImageDataModule
from nsearch.deployment.final_training import DEFAULT_EPOCHS, fit_and_test, train_module
from nsearch.search.evaluation import measure_accuracy
from nsearch.search_spaces import get_space
from nsearch.training.classifier import Classifier
from nsearch.training.hardware import Hardware

RESULTS = Path(__file__).parent / "results"
# The supernet job runs after this many networks' jobs (not last: a study cut short has it too).
SUPERNET_AFTER = 8


def parse_fidelity(text: str) -> tuple[int, int]:
    """``"4x16000"`` -> (4, 16000).

    Example::

        >>> parse_fidelity("2x4000")
        (2, 4000)
    """
    try:
        epochs, images = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a fidelity is EPOCHSxIMAGES such as 2x4000, got {text!r}") from None
    if epochs < 1 or images < 1:
        raise argparse.ArgumentTypeError(f"epochs and images must be positive, got {text!r}.")
    return epochs, images


def jobs_of(args: argparse.Namespace, count: int) -> list[dict[str, Any]]:
    """Every training of the study, in the order they run."""
    jobs = []
    supernet = {"kind": "supernet", "net": None, "epochs": args.supernet_epochs, "images": None,
                "seed": args.seeds[0]}  # fmt: skip
    for net in range(count):
        if net == SUPERNET_AFTER and args.supernet_epochs:  # it scores every network at once
            jobs.append(supernet)
        for epochs, images in args.fidelities:
            jobs.append({"kind": "fidelity", "net": net, "epochs": epochs, "images": images,
                         "seed": args.seeds[0]})  # fmt: skip
        for k, seed in enumerate(args.seeds):
            if k == 0 or net < args.second_seed:
                jobs.append({"kind": "final", "net": net, "epochs": args.final_epochs,
                             "images": None, "seed": seed})  # fmt: skip
    if args.supernet_epochs and count <= SUPERNET_AFTER:
        jobs.append(supernet)
    return jobs


def key(job: dict[str, Any]) -> str:
    return f"{job['kind']}-{job['net']}-{job['epochs']}x{job['images']}-s{job['seed']}"


def run_job(job: dict[str, Any], args: argparse.Namespace,
            nets: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """Train one network at one fidelity (or the supernet) and measure it."""
    if job["kind"] == "supernet":
        from fidelity_supernet import score_supernet

        return score_supernet(args, nets, SPACE)
    net = nets[job["net"]]
    final = job["kind"] == "final"
    return train_at(net["space"], net["architecture"], seed=job["seed"], epochs=job["epochs"],
                    images=args.train_limit if final else job["images"], final=final,
                    data=args.data, data_dir=args.data_dir, accelerator=args.accelerator)


def train_at(space_name: str, architecture: dict[str, Any], *, seed: int, epochs: int,
             images: int | None, final: bool, data: str = "embedded", data_dir: str | None = None,
             accelerator: str = "cpu") -> dict[str, Any]:  # fmt: skip
    """Train one network from scratch: by the final recipe (every training and validation
    image, BatchNorm statistics re-estimated, tested on the test split) where ``final``, else
    as a search trial (``images`` training images, validated on the validation split)."""
    module = ImageDataModule(data, data_dir, val_fraction=0.0 if final else 0.2,
                             train_limit=images, seed=0, shuffle_seed=seed)  # fmt: skip
    module.setup("fit")
    space = get_space(space_name)
    torch.manual_seed(seed)
    model = build(space, space.config_from_params(architecture), module)
    learner, hardware = Classifier(model, lr=space.lr), Hardware(accelerator)
    if final:  # finalize's steps: BatchNorm statistics re-estimated, then the test split
        seconds, measured = fit_and_test(learner, model, module, epochs=epochs, dest=None,
                                         hardware=hardware, progress=False)  # fmt: skip
    else:  # train_module keeps Lightning quiet
        seconds = train_module(learner, module, epochs=epochs, dest=None, hardware=hardware,
                               progress=False)  # fmt: skip
        measured = measure_accuracy(model.cpu().eval(), module.val_dataloader())
    return {"correct": measured.correct, "eval_images": measured.images,
            "accuracy_percent": measured.percent, "train_images": module.train_images,
            "seconds": round(seconds, 2)}  # fmt: skip


def worker(index: int, args: argparse.Namespace, nets: list[dict[str, Any]]) -> None:
    torch.set_num_threads(args.threads)
    runs_path, claims = args.out / "fidelity_runs.jsonl", args.out / "fidelity_claims"
    for job in jobs_of(args, len(nets)):
        name = key(job)
        if name in done_keys(runs_path):
            continue
        try:  # a claim: one worker per job
            os.close(os.open(claims / name, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        result = run_job(job, args, nets)
        with open(runs_path, "a") as f:  # one short line: appended whole
            f.write(json.dumps({"key": name, **job, **result}) + "\n")
        print(f"[worker {index}] {name}: {result.get('accuracy_percent', '')}", flush=True)
        write_summary(args, nets)


def done_keys(path: Path) -> set[str]:
    return {r["key"] for r in read_runs(path)}


def read_runs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_summary(args: argparse.Namespace, nets: list[dict[str, Any]]) -> None:
    runs = read_runs(args.out / "fidelity_runs.jsonl")
    summary = summarise(runs, nets, seeds=args.seeds)
    state = {**summary, "settings": settings_of(args), "machine": machine_description(),
             "torch": torch.__version__, "architectures": nets, "runs": runs}  # fmt: skip
    path = args.out / "fidelity.json"
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(state, indent=1) + "\n")
    partial.replace(path)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    free = ("out", "workers", "threads", "accelerator", "plot")
    values = {k: v for k, v in vars(args).items() if k not in free}
    return dict(json.loads(json.dumps(values, default=str)))  # as read back from the file


def report(state: dict[str, Any], out: Path) -> None:
    print_table(state)
    print_networks(state)
    plot(state, out / "fidelity.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", type=int, default=48)
    parser.add_argument("--uniform", type=int, default=5, help="mobilenet-uniform members.")
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1],
                        help="The first trains every network; the second --second-seed.")
    parser.add_argument("--second-seed", type=int, default=24,
                        help="How many networks train by the final recipe with both seeds.")
    parser.add_argument("--fidelities", type=parse_fidelity, nargs="+",
                        default=[(1, 4000), (2, 4000), (4, 4000), (1, 16000), (2, 16000),
                                 (4, 16000)])  # fmt: skip
    parser.add_argument("--final-epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="Final runs train on at most this many images (tests only).")
    parser.add_argument("--supernet-epochs", type=int, default=4,
                        help="The supernet estimator's training epochs (0: none).")
    parser.add_argument("--data", default="embedded")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--draws", type=int, default=400, help="Draws the networks come from.")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the draws.")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2))
    parser.add_argument("--accelerator", default="cpu", help="Lightning's accelerator.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plot", action="store_true", help="Only redraw the plot and table.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    state_path = args.out / "fidelity.json"
    old = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if old and old.get("settings") != settings_of(args):
        parser.error(f"{state_path} was measured with other settings: pass them again, or "
                     "another --out.")  # fmt: skip
    if args.plot:
        return report(old, args.out)
    data = ImageDataModule(args.data, args.data_dir)
    data.setup("fit")
    nets = old.get("architectures") or architectures(args, data)
    claims = args.out / "fidelity_claims"
    claims.mkdir(exist_ok=True)
    for stale in claims.iterdir():  # claims of an earlier sitting's unfinished jobs
        stale.unlink()
    write_summary(args, nets)
    start = time.perf_counter()
    if args.workers == 1:
        worker(0, args, nets)
    else:
        context = multiprocessing.get_context("spawn")
        procs = [context.Process(target=worker, args=(i, args, nets))
                 for i in range(args.workers)]  # fmt: skip
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    write_summary(args, nets)
    report(json.loads(state_path.read_text()), args.out)
    print(f"{math.ceil(time.perf_counter() - start)} s")


if __name__ == "__main__":
    main()
