"""NetScore of every ImageNet classifier torchvision ships, in the manner of Wong (2018).

Top-1 accuracy and torchvision's own cost figures come from the weights' metadata: no weights are
downloaded. Parameters and MACs are counted by nsearch (conv + linear + matmul MACs, batch 1, at
the resolution of each weight's evaluation transform). Writes ``results/zoo_netscore.csv`` and
``results/zoo_netscore.png`` beside this script and prints the table, with counting time per model.

    python experiments/zoo_netscore.py
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
import torchvision
from torchvision.models import get_model, get_model_weights, list_models

import nsearch

RESULTS = Path(__file__).parent / "results"
# torchvision's `_ops` metadata is rounded to three decimals (GMACs).
MATCH_RELATIVE, MATCH_ABSOLUTE = 0.01, 0.0005
# torchvision drops GoogLeNet's auxiliary heads when it loads its ImageNet weights (Inception v3's
# `num_params` counts them, so it keeps its own).
BUILD_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"init_weights": False},
}


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


def measure(name: str) -> dict[str, object]:
    weights = get_model_weights(name).DEFAULT
    meta = weights.meta
    size = weights.transforms().crop_size[0]
    model = build_uninitialised(name, size)
    start = time.perf_counter()
    c = nsearch.count_complexity(model, (3, size, size), cache=False)
    seconds = time.perf_counter() - start
    top1 = meta["_metrics"]["ImageNet-1K"]["acc@1"]
    tv_gmacs = float(meta["_ops"])
    macs_ok = abs(c.gmacs - tv_gmacs) <= MATCH_RELATIVE * tv_gmacs + MATCH_ABSOLUTE
    params_ok = c.params == meta["num_params"]
    return {
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


def add_ranks(rows: list[dict[str, object]]) -> None:
    for column in ("netscore", "top1_percent", "information_density"):
        ordered = sorted(rows, key=lambda r: -float(r[column]))  # type: ignore[arg-type]
        for rank, row in enumerate(ordered, start=1):
            row[f"rank_{column}"] = rank


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
    parser.add_argument("--models", nargs="*", help="Only these torchvision model names.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the CSV and plot.")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(True)
    names = args.models or list_models(module=torchvision.models)
    rows = []
    total = time.perf_counter()
    for name in names:
        row = measure(name)
        rows.append(row)
        mark = "" if row["matches_torchvision"] else "  (differs from torchvision)"
        print(
            f"{name:24s} counted in {row['count_seconds']:6.2f} s  {row['gmacs']:9.3f} GMACs "
            f"vs {row['gmacs_torchvision']:8.3f}{mark}",
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
