"""Does the supernet rank sub-networks as training them alone does, and better than free proxies?

Trains a space's weight-sharing supernet (``nsearch.supernet.train_supernet``, ``--epochs``
epochs), picks ``--subnets`` sub-networks evenly spread over log-MACs (the space's smallest and
largest networks and, between them, the nearest of ``--draws`` seeded uniform draws to evenly
spaced log-MACs targets), and measures for each: its supernet estimate of validation accuracy
(``nsearch.supernet.evaluate_subnet``, as ``--strategy supernet`` scores a trial), its validation
accuracy trained alone with the per-trial recipe of ``--strategy train`` for the same epochs
(``nsearch.search.training.train``; the best epoch's accuracy, as a search records it), its
parameter count, its MACs, and synflow (``synflow.synflow``) at initialisation. Reports Kendall's
tau-b, with its 95 % Fieller-Hartley-Pearson interval (``nsearch.stats.kendall_tau``), of each
figure against the standalone accuracies, and the time each costs. The goal: supernet tau at
least 0.6 over at least 12 sub-networks, above the taus of parameter count and synflow.

Synflow is computed as in the reference implementation of Abdelfattah et al. (2021), with batch
norm removed, and, as ``synflow_relu``, with each ReLU6 computed as ReLU (it saturates under
synflow's all-ones input; see ``synflow.py``); each row records the share of weights whose score
is exactly 0.

    python experiments/supernet_ranking.py                          # mobilenet, 16 sub-networks
    python experiments/supernet_ranking.py --space resnet --epochs 6 --subnets 20
    python experiments/supernet_ranking.py --subnets 5 --epochs 1 --train-limit 300 --out /tmp/x

Options: ``--space`` (a space with a supernet), ``--data`` and ``--data-dir``, ``--train-limit``
(training images), ``--epochs`` (the supernet's and each standalone network's), ``--subnets``,
``--draws``, ``--seed`` and ``--out`` (the folder for ``supernet_ranking.json``). With the
defaults it trains one supernet and 16 networks for 4 epochs over 4,000 images each, and
validates on the embedded data's 4,000 validation images.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ranking_summary import GOAL, GOAL_SUBNETS, goal_met, mean, print_results, rank_agreement
from synflow import synflow
from torch import nn

import nsearch
from nsearch.data import DATASETS, ImageDataModule
from nsearch.latency import machine_description
from nsearch.search import objectives
from nsearch.search.settings import SearchSettings
from nsearch.search.supernet import RECALIBRATION_BATCHES
from nsearch.search.training import quiet_lightning, train
from nsearch.search_spaces import SearchSpace, get_space, list_spaces
from nsearch.supernet import evaluate_subnet, train_supernet

RESULTS = Path(__file__).parent / "results"
MIN_SUBNETS = 5  # Kendall's tau with an interval needs 5 pairs


@dataclass(frozen=True)
class Subnet:
    """One sub-network and what was measured of it (accuracies in percent of the validation
    images; ``standalone_percent`` is ``None`` where its training failed with a NaN loss)."""

    index: int
    description: str
    config: dict[str, Any]
    params: int
    macs: int
    supernet_percent: float
    standalone_percent: float | None
    best_epoch: int | None
    synflow: float
    synflow_zero_percent: float
    synflow_relu: float
    synflow_relu_zero_percent: float
    estimate_seconds: float
    train_seconds: float
    synflow_seconds: float


def spread_over_log_macs(candidates: Sequence[tuple[Any, int]], count: int) -> list[int]:
    """Indices of ``count`` of ``candidates`` (``(config, macs)`` pairs) spread evenly over
    log-MACs: the cheapest and the most expensive, and for each of ``count - 2`` targets evenly
    spaced in log-MACs between them, the unchosen candidate nearest to it. Sorted by MACs.

    Example::

        >>> spread_over_log_macs([("a", 1), ("b", 5), ("c", 30), ("d", 1000)], 3)
        [0, 2, 3]
    """
    if not 2 <= count <= len(candidates):
        raise ValueError(f"`count` must be in [2, {len(candidates)}], got {count}.")
    logs = [math.log(macs) for _, macs in candidates]
    low, high = logs.index(min(logs)), logs.index(max(logs))
    chosen = [low, high]
    for i in range(1, count - 1):
        target = logs[low] + (logs[high] - logs[low]) * i / (count - 1)
        rest = [j for j in range(len(candidates)) if j not in chosen]
        chosen.append(min(rest, key=lambda j: abs(logs[j] - target)))
    return sorted(chosen, key=lambda j: logs[j])


def build(space: SearchSpace, config: Any, data: ImageDataModule) -> nn.Module:
    return space.build(
        config,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        input_size=data.input_size,
    )


def choose_subnets(
    space: SearchSpace, supernet: Any, data: ImageDataModule, args: argparse.Namespace
) -> list[Any]:
    """``args.subnets`` distinct configs, spread over log-MACs
    (:func:`spread_over_log_macs`) among the space's smallest and largest and ``args.draws``
    uniform draws (``supernet.sample`` from ``random.Random(args.seed)``)."""
    rng = random.Random(args.seed)
    configs = list(
        dict.fromkeys(
            [space.smallest, space.largest] + [supernet.sample(rng) for _ in range(args.draws)]
        )
    )
    if len(configs) < args.subnets:
        raise SystemExit(f"Only {len(configs)} distinct configs drawn; raise --draws.")
    with torch.random.fork_rng(devices=[]):
        candidates = [
            (c, nsearch.count_complexity(build(space, c, data), data.input_shape).macs)
            for c in configs
        ]
    return [candidates[i][0] for i in spread_over_log_macs(candidates, args.subnets)]


def train_alone(
    model: nn.Module,
    cost: nsearch.Complexity,
    index: int,
    data: ImageDataModule,
    args: argparse.Namespace,
    folder: Path,
) -> tuple[float | None, int | None, float]:
    """Train ``model`` with the per-trial recipe of ``--strategy train``: its best epoch's
    validation accuracy (percent; ``None`` if the loss turned NaN), that epoch, and seconds."""
    settings = SearchSettings(
        space=args.space,
        data=args.data,
        data_dir=args.data_dir,
        epochs=args.epochs,
        seed=args.seed,
        train_limit=args.train_limit,
        timeout=None,
    )
    outcome = train(
        model,
        trial=None,
        settings=settings,
        objective=objectives.get(settings.objective),
        data=data,
        cost=objectives.Epoch(0.0, cost.params_millions, cost.gmacs, None),
        folder=folder / f"subnet_{index}",
        log_dir=folder / "logs" / f"subnet_{index}",
    )
    best = outcome.best
    if outcome.failure is not None or best is None:
        print(f"  subnet {index}: standalone training failed: {outcome.failure}", flush=True)
        return None, None, outcome.seconds
    return 100.0 * best.val_correct / best.val_images, best.epoch, outcome.seconds


def measure(
    index: int,
    config: Any,
    space: SearchSpace,
    supernet: Any,
    data: ImageDataModule,
    args: argparse.Namespace,
    folder: Path,
) -> Subnet:
    """Everything measured of one sub-network (see :class:`Subnet`)."""
    start = time.perf_counter()
    correct, total = evaluate_subnet(
        supernet, config, data, split="val", recalibration_batches=RECALIBRATION_BATCHES
    )
    estimate_seconds = time.perf_counter() - start
    torch.manual_seed(args.seed + index)
    model = build(space, config, data)
    start = time.perf_counter()
    flow = synflow(model, data.input_shape)
    synflow_seconds = time.perf_counter() - start
    flow_relu = synflow(model, data.input_shape, relu6_as_relu=True)
    cost = nsearch.count_complexity(model, data.input_shape)
    standalone, best_epoch, train_seconds = train_alone(model, cost, index, data, args, folder)
    return Subnet(
        index=index,
        description=space.describe(config),
        config=space.params_of(config),
        params=cost.params,
        macs=cost.macs,
        supernet_percent=100.0 * correct / total,
        standalone_percent=standalone,
        best_epoch=best_epoch,
        synflow=flow.score,
        synflow_zero_percent=flow.zero_percent,
        synflow_relu=flow_relu.score,
        synflow_relu_zero_percent=flow_relu.zero_percent,
        estimate_seconds=estimate_seconds,
        train_seconds=train_seconds,
        synflow_seconds=synflow_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    with_supernet = [n for n in list_spaces() if get_space(n).supernet is not None]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--space",
        default="mobilenet",
        choices=with_supernet,
        help="The search space whose supernet is measured.",
    )
    parser.add_argument(
        "--data",
        default="embedded",
        choices=list(DATASETS),
        help="The data set the supernet and the networks train on.",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="The folder that holds the data set's files, where it needs one.",
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=4000,
        help="The number of training images (a stratified, seeded subset).",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=4,
        help="The supernet's training epochs, and each standalone network's.",
    )
    parser.add_argument(
        "--subnets",
        type=int,
        default=16,
        help=f"How many sub-networks to rank (the goal needs {GOAL_SUBNETS}).",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=200,
        help="How many uniform random configs the sub-networks are picked from.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Seeds the data split, the draws, the supernet and the networks.",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="The folder that receives supernet_ranking.json."
    )
    args = parser.parse_args(argv)
    if args.subnets < MIN_SUBNETS or args.draws < args.subnets:
        parser.error(
            f"--subnets must be at least {MIN_SUBNETS} and --draws at least --subnets, "
            f"got {args.subnets} and {args.draws}."
        )
    if args.epochs < 1 or args.train_limit < 1:
        parser.error(
            f"--epochs and --train-limit must be at least 1, got {args.epochs} and "
            f"{args.train_limit}."
        )
    start = time.perf_counter()
    data = ImageDataModule(
        args.data, args.data_dir, seed=args.seed, train_limit=args.train_limit, batch_size=128
    )
    data.setup()
    space = get_space(args.space)
    assert space.supernet is not None
    torch.manual_seed(args.seed)  # as nsearch.search.supernet.load_supernet builds it
    supernet = space.supernet(
        in_channels=data.in_channels, num_classes=data.num_classes, input_size=data.input_size
    )
    chosen = choose_subnets(space, supernet, data, args)
    selection_seconds = time.perf_counter() - start
    print(f"Picked {len(chosen)} sub-networks of {args.draws} draws.", flush=True)
    with tempfile.TemporaryDirectory(prefix="supernet_ranking_") as tmp:
        folder = Path(tmp)
        with quiet_lightning():
            training = train_supernet(
                supernet,
                data,
                epochs=args.epochs,
                seed=args.seed,
                checkpoint=folder / "supernet.pt",
                progress=True,
            )
        supernet = supernet.cpu().eval()
        rows = []
        for index, config in enumerate(chosen):
            rows.append(measure(index, config, space, supernet, data, args, folder))
            r = rows[-1]
            alone = f"{r.standalone_percent:.2f}" if r.standalone_percent is not None else "failed"
            print(
                f"subnet {index}: {r.description}: supernet {r.supernet_percent:.2f} %, alone "
                f"{alone} %, synflow {r.synflow:.3g}",
                flush=True,
            )
    taus = rank_agreement(rows)
    result: dict[str, Any] = {
        "settings": {
            **vars(args),
            "out": str(args.out),
            "recalibration_batches": RECALIBRATION_BATCHES,
            "standalone_accuracy": "best validation epoch, as a search records it",
        },
        "machine": machine_description(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "val_images": data.val_images,
        "train_images": data.train_images,
        "taus": taus,
        "goal": GOAL,
        "goal_met": goal_met(taus),
        "timings": {
            "data_and_selection_s": selection_seconds,
            "supernet_training_s": training.seconds,
            "estimate_s_mean": mean([r.estimate_seconds for r in rows]),
            "standalone_training_s_mean": mean([r.train_seconds for r in rows]),
            "synflow_s_mean": mean([r.synflow_seconds for r in rows]),
            "total_s": time.perf_counter() - start,
        },
        "subnets": [dataclasses.asdict(r) for r in rows],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "supernet_ranking.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print_results(rows, result)
    print(f"\nWrote {path} in {result['timings']['total_s']:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
