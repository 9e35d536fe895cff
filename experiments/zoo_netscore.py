"""NetScore and CPU latency of every ImageNet classifier torchvision ships, after Wong (2018).

Top-1 accuracy and torchvision's own cost figures come from the weights' metadata: no weights are
downloaded. Parameters and MACs are counted by nsearch (conv + linear + matmul MACs, batch 1, at
the resolution of each weight's evaluation transform). Latency is measured with
``nsearch.latency.measure_latency`` (torch, batch 1, a fixed thread count, at the same resolution)
on the model with torchvision's random initialisation. Writes ``results/zoo_netscore.csv``,
``results/zoo_netscore.png``, ``results/zoo_latency.json`` (Kendall's tau between the rankings by
MACs and by latency, and the models that move most between them) beside this
script, and prints the tables.

    python experiments/zoo_netscore.py                        # all of them (a long run)
    python experiments/zoo_netscore.py --models mobilenet_v2 resnet18 --out /tmp/zoo
    python experiments/zoo_netscore.py --limit 5 --threads 2 --no-latency
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
import torchvision
from torchvision.models import get_model, get_model_weights, list_models

import nsearch
from nsearch.core import kendall_tau
from nsearch.cost import machine_description, measure_latency

RESULTS = Path(__file__).parent / "results"
# torchvision's `_ops` metadata is rounded to three decimals (GMACs).
MATCH_RELATIVE, MATCH_ABSOLUTE = 0.01, 0.0005
# torchvision drops GoogLeNet's auxiliary heads when it loads its ImageNet weights (Inception v3's
# `num_params` counts them, so it keeps its own).
BUILD_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"init_weights": False},
}
MOVED_SHOWN = 10  # models listed as moving most between the rankings by MACs and by latency


def build_uninitialised(name: str, image_size: int) -> torch.nn.Module:
    """Build a model as its weights need it, without paying for initialisation of values that
    do not matter here."""
    kwargs: dict[str, object] = dict(BUILD_KWARGS.get(name, {}))
    if name.startswith("vit_"):  # position embeddings are sized for the weights' resolution
        kwargs["image_size"] = image_size
    try:
        with torch.device("meta"):
            model = get_model(name, **kwargs)
    except NotImplementedError:  # a builder that computes with tensors (RegNet)
        return get_model(name, **kwargs).eval()
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()
    return model.eval()


def build_random(name: str, image_size: int) -> torch.nn.Module:
    """Build a model with torchvision's own random initialisation, seeded: what latency is
    measured on (zeroed weights time the same here, but they are not what a device runs)."""
    kwargs: dict[str, object] = dict(BUILD_KWARGS.get(name, {}))
    if name.startswith("vit_"):
        kwargs["image_size"] = image_size
    torch.manual_seed(0)
    return get_model(name, **kwargs).eval()


def measure(name: str, latency: dict[str, Any] | None) -> dict[str, object]:
    """Count one model and, with ``latency`` (``measure_latency``'s keywords), time it."""
    weights = get_model_weights(name).DEFAULT
    meta = weights.meta
    size = weights.transforms().crop_size[0]
    model = build_uninitialised(name, size) if latency is None else build_random(name, size)
    start = time.perf_counter()
    c = nsearch.count_complexity(model, (3, size, size), cache=False)
    seconds = time.perf_counter() - start
    top1 = meta["_metrics"]["ImageNet-1K"]["acc@1"]
    tv_gmacs = float(meta["_ops"])
    macs_ok = abs(c.gmacs - tv_gmacs) <= MATCH_RELATIVE * tv_gmacs + MATCH_ABSOLUTE
    params_ok = c.params == meta["num_params"]
    row: dict[str, object] = {
        "model": name,
        "weights": str(weights).split(".")[-1],
        "input_size": size,
        "top1_percent": top1,
        "params": c.params,
        "params_millions": round(c.params_millions, 4),
        "gmacs": round(c.gmacs, 4),
        "gmacs_torchvision": tv_gmacs,
        "macs_diff_percent": round(100 * (c.gmacs - tv_gmacs) / tv_gmacs, 2),
        "matches_torchvision": macs_ok and params_ok,
        "information_density": round(nsearch.information_density(top1, c.params_millions), 3),
        "netscore": round(nsearch.netscore(top1, c.params_millions, c.gmacs), 3),
        "uncounted_ops": " ".join(sorted(c.uncounted_ops)),
        "count_seconds": round(seconds, 2),
    }
    if latency is not None:
        measured = measure_latency(model, (3, size, size), cache=False, **latency)
        row["latency_ms"] = round(measured.median_ms, 3)
        row["latency_p90_ms"] = round(measured.p90_ms, 3)
        row["latency_runs"] = measured.runs
    return row


def add_ranks(rows: list[dict[str, object]]) -> None:
    """Rank 1 is the best: highest NetScore, top-1, density; fewest MACs; lowest latency."""
    for column, sign in (
        ("netscore", -1),
        ("top1_percent", -1),
        ("information_density", -1),
        ("gmacs", 1),
        ("latency_ms", 1),
    ):
        if column not in rows[0]:
            continue
        ordered = sorted(rows, key=lambda r: sign * float(r[column]))  # type: ignore[arg-type]
        for rank, row in enumerate(ordered, start=1):
            row[f"rank_{column}"] = rank


def latency_summary(rows: list[dict[str, object]], latency: dict[str, Any]) -> dict[str, object]:
    """Rank agreement between MACs and latency over ``rows``, and the models that move most."""
    gmacs = [float(r["gmacs"]) for r in rows]  # type: ignore[arg-type]
    ms = [float(r["latency_ms"]) for r in rows]  # type: ignore[arg-type]
    try:
        tau: dict[str, object] | str = vars(kendall_tau(gmacs, ms))
    except ValueError as error:  # fewer than 5 models
        tau = str(error)
    moved = sorted(
        rows,
        key=lambda r: -abs(int(r["rank_latency_ms"]) - int(r["rank_gmacs"])),  # type: ignore[call-overload]
    )
    return {
        "runtime": "torch",
        "batch_size": 1,
        "threads": latency["threads"],
        "min_run_time_s": latency["min_run_time"],
        "machine": machine_description(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "models": len(rows),
        "kendall_tau_gmacs_latency": tau,
        "moved_most": [
            {
                "model": r["model"],
                "gmacs": r["gmacs"],
                "latency_ms": r["latency_ms"],
                "rank_gmacs": r["rank_gmacs"],
                "rank_latency": r["rank_latency_ms"],
                "moved": int(r["rank_latency_ms"]) - int(r["rank_gmacs"]),  # type: ignore[call-overload]
            }
            for r in moved[:MOVED_SHOWN]
        ],
    }


def print_latency(summary: dict[str, Any]) -> None:
    tau = summary["kendall_tau_gmacs_latency"]
    print(
        f"\nLatency: torch, batch 1, {summary['threads']} thread(s), on {summary['machine']}; "
        f"{summary['models']} models."
    )
    if isinstance(tau, dict):
        print(
            f"Kendall's tau between ranking by MACs and by latency: {tau['tau']:.3f} "
            f"({100 * tau['confidence']:.0f}% interval {tau['low']:.3f} to {tau['high']:.3f}, "
            f"n = {tau['n']})."
        )
    else:
        print(f"Kendall's tau: not computed ({tau})")
    print("\nModels that move most (positive: slower than their MACs rank them):")
    print("| model | GMACs | latency (ms) | rank by MACs | rank by latency | moved |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for m in summary["moved_most"]:
        print(
            f"| {m['model']} | {m['gmacs']:.3f} | {m['latency_ms']:.2f} | {m['rank_gmacs']} | "
            f"{m['rank_latency']} | {m['moved']:+d} |"
        )


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gmacs = [float(r["gmacs"]) for r in rows]  # type: ignore[arg-type]
    top1 = [float(r["top1_percent"]) for r in rows]  # type: ignore[arg-type]
    params = [float(r["params_millions"]) for r in rows]  # type: ignore[arg-type]
    score = [float(r["netscore"]) for r in rows]  # type: ignore[arg-type]
    front = nsearch.pareto_front(list(zip(top1, gmacs)), ["maximize", "minimize"])
    front.sort(key=lambda i: gmacs[i])

    fig, ax = plt.subplots(figsize=(11, 7))
    points = ax.scatter(
        gmacs,
        top1,
        s=[10 + 1.5 * p for p in params],
        c=score,
        cmap="viridis",
        alpha=0.8,
        edgecolors="k",
        linewidths=0.4,
    )
    ax.step(
        [gmacs[i] for i in front],
        [top1[i] for i in front],
        where="post",
        color="crimson",
        lw=1.2,
        label="Pareto front (top-1 vs GMACs)",
    )
    for i in front:
        ax.annotate(
            str(rows[i]["model"]),
            (gmacs[i], top1[i]),
            fontsize=7,
            xytext=(4, -8),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per image (conv + linear + matmul, counted by nsearch)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title("torchvision ImageNet classifiers: point area ~ parameters, colour = NetScore")
    fig.colorbar(points, ax=ax, label="NetScore (dB)")
    ax.legend(loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="*", help="Only these torchvision model names (default: all)."
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="Only the first N models (of --models, or of all in name order).",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="The folder for the CSV, JSON and plots."
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="The intra-op thread count latency is measured at."
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=0.5,
        help="The seconds of timed calls per model at least (after warm-up, at least 5 calls).",
    )
    parser.add_argument(
        "--no-latency", action="store_true", help="Count parameters and MACs only, as before."
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}.")
    if args.threads < 1 or not args.min_run_time > 0:
        parser.error(
            f"--threads must be at least 1 and --min-run-time positive, got {args.threads} and "
            f"{args.min_run_time}."
        )
    known = list_models(module=torchvision.models)
    unknown = sorted(set(args.models or []) - set(known))
    if unknown:
        parser.error(f"unknown torchvision classifiers {unknown}; see torchvision.models.")
    torch.set_grad_enabled(True)
    names = (args.models or known)[: args.limit]
    latency: dict[str, Any] | None = {"threads": args.threads, "min_run_time": args.min_run_time}
    if args.no_latency:
        latency = None
    rows = []
    total = time.perf_counter()
    for name in names:
        row = measure(name, latency)
        rows.append(row)
        mark = "" if row["matches_torchvision"] else "  (differs from torchvision)"
        timed = f"  {row['latency_ms']:9.2f} ms" if latency is not None else ""
        print(
            f"{name:24s} counted in {row['count_seconds']:6.2f} s  {row['gmacs']:9.3f} GMACs "
            f"vs {row['gmacs_torchvision']:8.3f}{timed}{mark}",
            flush=True,
        )
    add_ranks(rows)
    rows.sort(key=lambda r: int(r["rank_netscore"]))  # type: ignore[call-overload]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "zoo_netscore.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.out / "zoo_netscore.png")
    if latency is not None:
        summary = latency_summary(rows, latency)
        (args.out / "zoo_latency.json").write_text(json.dumps(summary, indent=2) + "\n")
    matched = sum(bool(r["matches_torchvision"]) for r in rows)
    print(
        f"\n{len(rows)} models in {time.perf_counter() - total:.0f} s; "
        f"{matched}/{len(rows)} ({100 * matched / len(rows):.1f}%) match torchvision's params "
        f"and MACs (within 1%)."
    )
    print("\nTop 10 by NetScore:")
    print("| rank | model | top-1 (%) | params (M) | GMACs | info. density (%/M) | NetScore |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows[:10]:
        print(
            f"| {r['rank_netscore']} | {r['model']} | {r['top1_percent']} | "
            f"{r['params_millions']:.2f} | {r['gmacs']:.3f} | {r['information_density']:.2f} | "
            f"{r['netscore']:.2f} |"
        )
    if latency is not None:
        print_latency(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
