"""Does counting MACs (or parameters) rank nsearch's networks as measured CPU latency does?

For each search space, samples architectures with a seeded Optuna random sampler (``study.ask()``
then the space's ``suggest``), builds each for the embedded data (1 x 28 x 28, 10 classes), counts
parameters and MACs with ``nsearch.count_complexity``, measures latency with
``nsearch.latency.measure_latency`` (batch 1, a fixed thread count; with ``--onnxruntime`` also in
onnxruntime) and reports Kendall's tau, with its 95 % interval, between MACs and latency and
between parameters and latency, per space and over all spaces together. Writes
``results/latency_vs_macs.json`` beside this script and prints a short table.

    python experiments/latency_vs_macs.py                               # every space, 30 each
    python experiments/latency_vs_macs.py --spaces mobilenet resnet --samples 10 --onnxruntime
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch

import nsearch
from nsearch.core import kendall_tau
from nsearch.cost import machine_description, measure_latency
from nsearch.search_spaces import get_space, list_spaces

RESULTS = Path(__file__).parent / "results"
INPUT_SHAPE = (1, 28, 28)  # the embedded Fashion-MNIST subset
NUM_CLASSES = 10


@dataclass(frozen=True)
class Sample:
    """One sampled architecture: its cost counted and its latency measured (medians, ms)."""

    space: str
    index: int
    config: dict[str, Any]
    params: int
    macs: int
    latency_ms: float
    latency_p90_ms: float
    onnxruntime_ms: float | None = None


def sample_space(name: str, args: argparse.Namespace) -> list[Sample]:
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    samples = []
    for index in range(args.samples):
        config = space.suggest(study.ask())
        torch.manual_seed(args.seed + index)
        model = space.build(
            config, in_channels=INPUT_SHAPE[0], num_classes=NUM_CLASSES, input_size=INPUT_SHAPE[1]
        )
        cost = nsearch.count_complexity(model, INPUT_SHAPE)
        timing = {"threads": args.threads, "min_run_time": args.min_run_time}
        measured = measure_latency(model, INPUT_SHAPE, **timing)
        onnx = None
        if args.onnxruntime:
            onnx = measure_latency(model, INPUT_SHAPE, runtime="onnxruntime", **timing).median_ms
        sample = Sample(
            space=name,
            index=index,
            config=dataclasses.asdict(config),
            params=cost.params,
            macs=cost.macs,
            latency_ms=measured.median_ms,
            latency_p90_ms=measured.p90_ms,
            onnxruntime_ms=onnx,
        )
        samples.append(sample)
        extra = f"  onnxruntime {onnx:7.3f} ms" if onnx is not None else ""
        print(
            f"{name:18s} #{index:<3d} {cost.params / 1e6:7.3f} M params {cost.macs / 1e6:8.2f} "
            f"M MACs  torch {measured.median_ms:7.3f} ms{extra}",
            flush=True,
        )
    return samples


def agreement(samples: list[Sample]) -> dict[str, Any]:
    """Kendall's tau (with interval) of each cost figure against each latency, or why not."""
    latencies = {"latency": [s.latency_ms for s in samples]}
    if all(s.onnxruntime_ms is not None for s in samples):
        latencies["onnxruntime"] = [float(s.onnxruntime_ms or 0.0) for s in samples]
    result: dict[str, Any] = {"samples": len(samples)}
    for cost_name in ("macs", "params"):
        cost = [float(getattr(s, cost_name)) for s in samples]
        for latency_name, measured in latencies.items():
            try:
                result[f"{cost_name}_vs_{latency_name}"] = vars(kendall_tau(cost, measured))
            except ValueError as error:  # fewer than 5 samples, or a constant figure
                result[f"{cost_name}_vs_{latency_name}"] = str(error)
    return result


def describe(tau: Any) -> str:
    if isinstance(tau, dict):
        return f"{tau['tau']:+.3f} [{tau['low']:+.3f}, {tau['high']:+.3f}]"
    return "n/a (needs >= 5 distinct)"


def main(argv: list[str] | None = None) -> int:
    known = list_spaces()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spaces",
        nargs="+",
        default=known,
        help=f"The search spaces to sample (default: all registered: {', '.join(known)}).",
    )
    parser.add_argument("--samples", type=int, default=30, help="Architectures per space.")
    parser.add_argument("--seed", type=int, default=0, help="The random sampler's seed.")
    parser.add_argument(
        "--threads", type=int, default=1, help="The intra-op thread count latency is measured at."
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=0.2,
        help="The seconds of timed calls per network at least (after warm-up).",
    )
    parser.add_argument(
        "--onnxruntime",
        action="store_true",
        help="Also measure each network in onnxruntime (an ONNX export of a few seconds each).",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="The folder for the JSON.")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.spaces) - set(known))
    if unknown:
        parser.error(f"unknown spaces {unknown}; the registered spaces are {known}.")
    if args.samples < 1 or args.threads < 1 or not args.min_run_time > 0:
        parser.error(
            f"--samples and --threads must be at least 1 and --min-run-time positive, got "
            f"{args.samples}, {args.threads} and {args.min_run_time}."
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    samples = {name: sample_space(name, args) for name in args.spaces}
    groups = dict(samples)
    if len(samples) > 1:
        groups["all"] = [s for group in samples.values() for s in group]
    summary = {name: agreement(group) for name, group in groups.items()}
    result = {
        "machine": machine_description(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "input_shape": INPUT_SHAPE,
        "batch_size": 1,
        "threads": args.threads,
        "min_run_time_s": args.min_run_time,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - start, 1),
        "agreement": summary,
        "samples": [dataclasses.asdict(s) for group in samples.values() for s in group],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "latency_vs_macs.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nKendall's tau [95% interval], torch latency at batch 1 and {args.threads} thread(s) "
        f"on {result['machine']}:"
    )
    print("| space | n | MACs vs latency | params vs latency | latency (ms) |")
    print("| --- | ---: | --- | --- | --- |")
    for name, group in groups.items():
        ms = [s.latency_ms for s in group]
        row = summary[name]
        print(
            f"| {name} | {len(group)} | {describe(row['macs_vs_latency'])} | "
            f"{describe(row['params_vs_latency'])} | {min(ms):.3f}-{max(ms):.3f} |"
        )
        if "macs_vs_onnxruntime" in row:
            print(
                f"| {name} (onnxruntime) | {len(group)} | {describe(row['macs_vs_onnxruntime'])} |"
                f" {describe(row['params_vs_onnxruntime'])} | |"
            )
    print(f"\nWrote {path} in {result['seconds']} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
