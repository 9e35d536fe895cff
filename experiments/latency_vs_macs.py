"""Which latency should a search optimise? MACs, parameters and latency in each runtime, against
the latency of the runtime a device runs (ExecuTorch with XNNPACK, fp32 and int8).

For each search space, samples architectures with a seeded Optuna random sampler, builds each for
the embedded data (1 x 28 x 28, 10 classes), counts parameters and MACs, and measures latency at
batch 1 and one thread (``nsearch.measure_latency``) in eager torch and ONNX Runtime, and, for the
first ``--executorch-samples`` of each space, as an ExecuTorch program lowered to XNNPACK in fp32
and in int8 (PT2E, calibrated on random images: latency does not depend on what the weights
learned). For each it also records what one measurement costs (export and lowering included):
the price of a search measuring latency in that runtime. Reports Kendall's tau, with its 95 %
interval, of every figure against every latency, and of each runtime's latency against the
deployed ExecuTorch latency: how well a search candidate's latency in a runtime predicts the
finalized model's latency on the device. Writes ``results/latency_vs_macs.json`` after every
architecture.

    python experiments/latency_vs_macs.py                          # every space, 30 each
    python experiments/latency_vs_macs.py --spaces mobilenet --samples 6 --executorch-samples 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.core import kendall_tau
from nsearch.cost import count_complexity, machine_description, measure_file_latency
from nsearch.cost import measure_latency as measure
from nsearch.deployment.normalized import Normalized
from nsearch.deployment.quantization import quantize_executorch
from nsearch.search_spaces import get_space, list_spaces

RESULTS = Path(__file__).parent / "results"
INPUT_SHAPE = (1, 28, 28)  # the embedded Fashion-MNIST subset
NUM_CLASSES = 10
FIGURES = ("macs", "params", "torch", "onnxruntime", "executorch", "executorch_int8")
DEPLOYED = ("executorch", "executorch_int8")


@dataclass(frozen=True)
class Sample:
    """One architecture: its cost and, per runtime, its median latency (ms) and what measuring it
    took (s, export and lowering included)."""

    space: str
    index: int
    config: dict[str, Any]
    params: int
    macs: int
    latency_ms: dict[str, float] = field(default_factory=dict)
    measure_s: dict[str, float] = field(default_factory=dict)


def _timed(call: Any) -> tuple[float, float]:
    start = time.perf_counter()
    latency = call()
    return latency.median_ms, time.perf_counter() - start


def measure_sample(model: torch.nn.Module, executorch: bool, args: Any) -> tuple[dict, dict]:
    timing = {"threads": 1, "min_run_time": args.min_run_time, "cache": False}
    latency, cost = {}, {}
    latency["torch"], cost["torch"] = _timed(lambda: measure(model, INPUT_SHAPE, **timing))
    latency["onnxruntime"], cost["onnxruntime"] = _timed(
        lambda: measure(model, INPUT_SHAPE, runtime="onnxruntime", **timing))  # fmt: skip
    if executorch:
        latency["executorch"], cost["executorch"] = _timed(
            lambda: measure(model, INPUT_SHAPE, runtime="executorch", **timing))  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            wrapped = Normalized(model, [0.5], [0.25]).eval()
            calibration = torch.rand(32, *INPUT_SHAPE)
            path = quantize_executorch(wrapped, calibration, Path(folder) / "q.pte")
            int8 = measure_file_latency(path, INPUT_SHAPE, runtime="executorch",
                                        min_run_time=args.min_run_time)  # fmt: skip
            latency["executorch_int8"] = int8.median_ms
            cost["executorch_int8"] = time.perf_counter() - start
    return latency, cost


def value(sample: Sample, figure: str) -> float | None:
    return float(getattr(sample, figure)) if figure in ("macs", "params") else \
        sample.latency_ms.get(figure)  # fmt: skip


def agreement(samples: list[Sample]) -> dict[str, Any]:
    """Kendall's tau (with interval) of every figure against every latency, over the samples
    that have both."""
    result: dict[str, Any] = {}
    for latency in FIGURES[2:]:
        for figure in FIGURES:
            if figure == latency:
                continue
            pairs = [(value(s, figure), value(s, latency)) for s in samples]
            pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
            try:
                tau = kendall_tau([a for a, _ in pairs], [b for _, b in pairs])
                result[f"{figure}_vs_{latency}"] = {"tau": tau.tau, "ci95": [tau.low, tau.high],
                                                    "n": tau.n}  # fmt: skip
            except ValueError as error:
                result[f"{figure}_vs_{latency}"] = str(error)
    for runtime in FIGURES[2:]:
        costs = [s.measure_s[runtime] for s in samples if runtime in s.measure_s]
        if costs:
            result[f"measure_s_{runtime}"] = sorted(costs)[len(costs) // 2]
    return result


def main() -> None:
    known = list_spaces()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=known, choices=known)
    parser.add_argument("--samples", type=int, default=30, help="Architectures per space.")
    parser.add_argument("--executorch-samples", type=int, default=12,
                        help="Of those, how many to lower to ExecuTorch (fp32 and int8; about "
                        "a minute each on two cores).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="The random sampler's seed.")
    parser.add_argument("--min-run-time", type=float, default=0.2,
                        help="Seconds of timed calls per network and runtime at least.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    start = time.perf_counter()
    for name in args.spaces:
        space = get_space(name)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
        for index in range(args.samples):
            config = space.suggest(study.ask())
            torch.manual_seed(args.seed + index)
            model = space.build(config, in_channels=1, num_classes=NUM_CLASSES, input_size=28)
            model.eval()
            cost = count_complexity(model, INPUT_SHAPE)
            latency, measure_s = measure_sample(model, index < args.executorch_samples, args)
            samples.append(Sample(name, index, dataclasses.asdict(config), cost.params, cost.macs,
                                  latency, measure_s))  # fmt: skip
            print(name, index, {k: round(v, 3) for k, v in latency.items()}, flush=True)
            groups = {n: [s for s in samples if s.space == n] for n in args.spaces}
            groups["all"] = samples
            result = {"machine": machine_description(), "torch": torch.__version__,
                      "input_shape": INPUT_SHAPE, "batch_size": 1, "threads": 1,
                      "min_run_time_s": args.min_run_time, "seed": args.seed,
                      "seconds": round(time.perf_counter() - start, 1),
                      "agreement": {n: agreement(g) for n, g in groups.items() if len(g) >= 5},
                      "samples": [dataclasses.asdict(s) for s in samples]}  # fmt: skip
            (args.out / "latency_vs_macs.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["agreement"], indent=1))


if __name__ == "__main__":
    main()
