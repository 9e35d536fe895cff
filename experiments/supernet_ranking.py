"""Does the supernet rank sub-networks as training them alone does, judged against the ranking's own
noise ceiling, and which supernet recipe ranks best?

Ground truth: ``--subnets`` sub-networks spread over the space's log-MACs, each trained alone with
the per-trial recipe of ``--strategy train`` (``nsearch.search.train``: its best epoch's validation
accuracy, as a search records it) once per seed of ``--seeds`` (different weights and data order,
the same split). The ceiling is the Kendall tau between two seeds' accuracies: how well one
independent training ranks the networks as another does. Each estimator is judged against the
mean over seeds: parameter count, MACs, synflow at initialisation, and supernets trained by each
recipe of ``--variants`` (:data:`VARIANTS`), each scored by accuracy and by loss, with 8 or 32
recalibration batches, on the whole validation split or a subsample (``--subsamples``), at its
last epoch or averaged over its last two; the baseline also on the search's subsample with each of
``--recalibration-batches``. Top-k overlap (the share of the k best by ground truth
that the estimator also puts in its k best) stands beside each tau.

Validation is on the full Fashion-MNIST's 12,000-image validation split by default (Debian's
``dataset-fashion-mnist``). Results are written after every standalone training and every
variant, so the study can run in the background and continue later (the same ``--out``).
``--part standalone`` and ``--part variants`` split the two halves between two processes (one
thread each shares two cores better than two threads each) that share one ``--out``: each
keeps what the other wrote.

    python experiments/supernet_ranking.py                      # 24 sub-networks, seeds 0 1
    python experiments/supernet_ranking.py --data embedded --subnets 6 --seeds 0 1 \\
        --train-limit 300 --epochs 1 --variants baseline --out /tmp/ranking
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
from ranking_summary import estimators_of, print_summary
from synflow import synflow

from nsearch.cost import count_complexity, machine_description
from nsearch.search import SearchSettings, make_candidates, train
from nsearch.search.objectives import Epoch
from nsearch.search.supernet import RECALIBRATION_BATCHES, SCORING_IMAGES
from nsearch.search_spaces import get_space
from nsearch.supernet import Supernet
from nsearch.training import SubnetScorer, SupernetRecipe, quiet_lightning, train_supernet

RESULTS = Path(__file__).parent / "results"
TOP_LEVEL = ("n_subnets", "seeds", "ceiling", "estimators")
ABLATION_BATCHES = 8  # recalibration batches of every recipe's scores (the ``-recal8`` ways)
# Each supernet recipe of the ablation: (epoch factor, recipe fields changed from the default).
VARIANTS: dict[str, tuple[float, dict[str, Any]]] = {
    "baseline": (1, {}),
    "wd0-clip": (1, {"weight_decay": 0.0, "grad_clip": 1.0}),
    "uniform": (1, {"sampling": "uniform", "num_random": 4, "distill": False}),
    "sandwich-6": (1, {"num_random": 6}),
    "longer": (2, {}),
}


def spread_over_log_macs(macs: list[int], count: int) -> list[int]:
    """Indices of ``count`` networks spread evenly over log-MACs, cheapest and dearest included.

    Example::

        >>> spread_over_log_macs([1, 5, 30, 1000], 3)
        [0, 2, 3]
    """
    logs = [math.log(m) for m in macs]
    low, high = logs.index(min(logs)), logs.index(max(logs))
    chosen = [low, high]
    for i in range(1, count - 1):
        target = logs[low] + (logs[high] - logs[low]) * i / (count - 1)
        rest = [j for j in range(len(macs)) if j not in chosen]
        chosen.append(min(rest, key=lambda j: abs(logs[j] - target)))
    return sorted(chosen, key=lambda j: logs[j])


def choose(args: argparse.Namespace, candidates: Any) -> list[Any]:
    space = get_space(args.space)
    supernet = Supernet(space, in_channels=candidates.input_shape[0],
                        num_classes=candidates.num_classes,
                        input_size=candidates.input_shape[-1])  # fmt: skip
    rng = random.Random(args.seed)
    configs = list(dict.fromkeys([space.smallest, space.largest,
                                  *(supernet.sample(rng) for _ in range(args.draws))]))  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        macs = [count_complexity(candidates.build(space, c), candidates.input_shape).macs
                for c in configs]  # fmt: skip
    return [configs[i] for i in spread_over_log_macs(macs, args.subnets)]


def standalone(args: argparse.Namespace, candidates: Any, config: Any, seed: int,
               folder: Path) -> dict[str, Any]:  # fmt: skip
    """One sub-network trained alone with the per-trial recipe, on the seed's data order."""
    space = get_space(args.space)
    candidates.data.shuffle_seed = seed  # independent order, the same split
    torch.manual_seed(seed)
    model = candidates.build(space, config)
    cost = count_complexity(model, candidates.input_shape)
    outcome = train(model, candidates=candidates, epochs=args.epochs,
                    score=lambda e: e.accuracy_percent,
                    cost=Epoch(0.0, cost.params_millions, cost.gmacs),
                    folder=folder / "net", log_dir=folder / "logs")  # fmt: skip
    best = outcome.best
    return {"accuracy_percent": None if best is None else 100 * best.val_correct / best.val_images,
            "val_images": None if best is None else best.val_images, "seconds": outcome.seconds}


def score_variant(name: str, args: argparse.Namespace, chosen: list[Any], candidates: Any,
                  folder: Path) -> dict[str, Any]:  # fmt: skip
    """Train the variant's supernet, then score every sub-network every way."""
    factor, changes = VARIANTS[name]
    space = get_space(args.space)
    torch.manual_seed(args.seed)
    c, _, size = candidates.input_shape
    supernet = Supernet(space, in_channels=c, num_classes=candidates.num_classes, input_size=size)
    recipe = SupernetRecipe(seed=args.seed, **changes)
    start = time.perf_counter()
    with quiet_lightning():
        training = train_supernet(supernet, candidates.data, epochs=round(args.epochs * factor),
                                  recipe=recipe, progress=False, keep_last=2)  # fmt: skip
    train_seconds = time.perf_counter() - start
    supernet = supernet.cpu().eval()
    scores: dict[str, list[dict[str, float]]] = {}
    r = ABLATION_BATCHES
    ways = [(f"full-recal{r}", None, r), (f"sub{SCORING_IMAGES}-recal{r}", SCORING_IMAGES, r)]
    if name == "baseline":  # how scoring itself ranks: the baseline supernet, scored every way
        ways += [("full-recal32", None, 32)]
        ways += [(f"sub{SCORING_IMAGES}-recal{n}", SCORING_IMAGES, n)  # the search's subsample
                 for n in args.recalibration_batches if n != r]  # fmt: skip
        ways += [(f"sub{n}-recal{r}", n, r) for n in args.subsamples if n != SCORING_IMAGES]
    for way, images, batches in ways:
        for snapshot, state in enumerate(training.snapshots[-2:]):
            supernet.load_state_dict(state)
            scorer = SubnetScorer(supernet, candidates.data, recalibration_batches=batches,
                                  images=images, seed=args.seed)  # fmt: skip
            start = time.perf_counter()
            results = [scorer(config) for config in chosen]
            seconds = (time.perf_counter() - start) / len(chosen)
            when = "last" if snapshot == len(training.snapshots[-2:]) - 1 else "prev"
            scores[f"{way}@{when}"] = [
                {"accuracy": r.accuracy, "loss": r.loss, "seconds": seconds} for r in results
            ]
    return {"recipe": recipe.as_dict(), "epochs": round(args.epochs * factor),
            "train_seconds": train_seconds, "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mobilenet", choices=["mobilenet", "resnet"])
    parser.add_argument("--data", default="fashion-mnist", help="nsearch's --data.")
    parser.add_argument("--data-dir", default=None, help="nsearch's --data-dir.")
    parser.add_argument("--train-limit", type=int, default=4000,
                        help="Training images (the per-trial recipe's default).")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=4,
                        help="Epochs of each standalone network and of the baseline supernet.")
    parser.add_argument("--subnets", type=int, default=24, help="Sub-networks to rank.")
    parser.add_argument("--draws", type=int, default=400, help="Uniform draws picked from.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="Seeds of the standalone trainings (two or more: the ceiling).")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the draws and the supernets.")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--subsamples", type=int, nargs="*", default=[1000, 2000],
                        help="Validation subsample sizes for fast scoring.")  # fmt: skip
    parser.add_argument("--recalibration-batches", type=int, nargs="*",
                        default=[RECALIBRATION_BATCHES],
                        help="Fewer recalibration batches to try with the search's subsample "
                        "(default: the search's, %(default)s).")  # fmt: skip
    parser.add_argument("--part", choices=["all", "standalone", "variants"], default="all",
                        help="Only the standalone trainings or only the supernet variants (two "
                        "processes with two --out folders share a machine's cores).")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if len(args.seeds) < 2 or args.subnets < 5:
        parser.error("--seeds needs two or more seeds and --subnets at least 5.")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "supernet_ranking.json"
    # what may differ between sittings
    free = ("out", "variants", "seeds", "part", "subsamples", "recalibration_batches")

    def fixed(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k not in free}

    settings = fixed(vars(args))
    state = json.loads(path.read_text()) if path.is_file() else {}
    if fixed(state.get("settings", {})) != settings:
        state = {"settings": settings, "standalone": {}, "variants": {}}
    work = args.out / "supernet_ranking_work"
    base = SearchSettings(space=args.space, data=args.data, data_dir=args.data_dir,
                          train_limit=args.train_limit, seed=0, timeout=None)  # fmt: skip
    candidates = make_candidates(base, work)
    chosen = choose(args, candidates)
    space = get_space(args.space)
    state["subnets"] = []
    for config in chosen:
        model = candidates.build(space, config)
        cost = count_complexity(model, candidates.input_shape)
        flow = synflow(model, candidates.input_shape, relu6_as_relu=True)
        state["subnets"].append({"architecture": space.params_of(config),
                                 "description": space.describe(config), "params": cost.params,
                                 "macs": cost.macs, "synflow": flow.score})  # fmt: skip
    state.update(val_images=candidates.val_images, machine=machine_description(),
                 torch=torch.__version__, seed_values=args.seeds)  # fmt: skip

    def save() -> None:
        # Another process may share --out (--part): keep what it wrote since we read the file.
        disk = json.loads(path.read_text()) if path.is_file() else {}
        if fixed(disk.get("settings", {})) == settings:
            for seed, runs in disk["standalone"].items():
                if len(runs) > len(state["standalone"].get(seed, [])):
                    state["standalone"][seed] = runs
            for name, variant in disk["variants"].items():
                state["variants"].setdefault(name, variant)
        state["summary"] = estimators_of(state)
        # the interface at the top level: n_subnets, seeds (a count), ceiling, estimators
        state.update({key: state["summary"][key] for key in TOP_LEVEL if key in state["summary"]})
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=2) + "\n")
        partial.replace(path)  # whole, for the other process's next read

    for seed in args.seeds if args.part != "variants" else []:
        done = state["standalone"].setdefault(str(seed), [])
        for index in range(len(done), len(chosen)):
            with quiet_lightning():
                done.append(standalone(args, candidates, chosen[index], seed,
                                       work / f"seed{seed}-{index}"))  # fmt: skip
            print(f"seed {seed} subnet {index}: {done[-1]['accuracy_percent']:.2f} %", flush=True)
            save()
    for name in args.variants if args.part != "standalone" else []:
        if name not in state["variants"]:
            state["variants"][name] = score_variant(name, args, chosen, candidates, work)
            print(f"variant {name} scored", flush=True)
            save()
    save()
    print_summary(state)


if __name__ == "__main__":
    main()
