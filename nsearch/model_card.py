"""``MODEL_CARD.md`` of a finalized model: a pure function of what finalize measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nsearch.latency import Latency
from nsearch.parity import Parity

__all__ = ["CardFacts", "model_card"]


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states, in the units its names give."""

    space: str
    architecture_text: str
    trial: int
    params: int
    macs: int
    netscore_db: float
    test_correct: int
    test_images: int
    test_interval: tuple[float, float]
    search_val_accuracy_percent: float | None
    data: str
    train_images: int
    classes: Sequence[str]
    input_shape: Sequence[int]
    mean: Sequence[float]
    std: Sequence[float]
    epochs: int
    batch_size: int
    lr: float
    seed: int
    train_seconds: float
    latencies: Sequence[Latency]
    parities: Sequence[Parity]
    onnx_note: str = ""


def _latency_rows(latencies: Sequence[Latency]) -> list[str]:
    rows = ["| runtime | threads | median (ms) | p90 (ms) | IQR (ms) | timed runs |",
            "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for lat in latencies:
        rows.append(
            f"| {lat.runtime} | {lat.threads} | {lat.median_ms:.3f} | {lat.p90_ms:.3f} | "
            f"{lat.iqr_ms:.3f} | {lat.runs} |"
        )
    return rows


def _parity_rows(parities: Sequence[Parity]) -> list[str]:
    rows = ["| runtime | images | same class | largest logit difference | tolerance | ok |",
            "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for p in parities:
        rows.append(
            f"| {p.runtime} | {p.n_images:,} | {p.same_class:,} ({100 * p.same_class_fraction:.2f} "
            f"%) | {p.max_abs_diff:.2e} | {p.atol:g} | {'yes' if p.ok else 'NO'} |"
        )
    return rows


def model_card(f: CardFacts) -> str:
    """The model card as markdown."""
    accuracy = 100.0 * f.test_correct / f.test_images
    low, high = f.test_interval
    c, h, w = f.input_shape
    machine = f.latencies[0].machine if f.latencies else "this machine"
    search = (
        f" (its search trial reached {f.search_val_accuracy_percent:.2f} % validation accuracy "
        "after a short training)"
        if f.search_val_accuracy_percent is not None
        else ""
    )
    lines = [
        f"# Model card: {f.space} trial {f.trial}",
        "",
        f"An image classifier found by nsearch's search of the `{f.space}` space{search}, then "
        f"trained from scratch on all {f.train_images:,} training images of `{f.data}`.",
        "",
        "## Architecture and cost",
        "",
        f"- Architecture: `{f.architecture_text}`",
        f"- Parameters: {f.params:,} ({f.params / 1e6:.3f} M)",
        f"- Multiply-accumulates per image: {f.macs:,} ({f.macs / 1e9:.4f} GMACs; conv + linear "
        "+ matmul)",
        f"- NetScore: {f.netscore_db:.2f} dB = 20 log10(acc^2 / (params^0.5 * GMACs^0.5)), with "
        "the test accuracy in percent, params in millions, GMACs",
        "",
        "## Accuracy",
        "",
        f"Test accuracy **{accuracy:.2f} %** ({f.test_correct:,} of {f.test_images:,} test "
        f"images), Wilson 95 % interval {low:.2f}-{high:.2f} %. The test images played no part in "
        "the search or in training.",
        "",
        "## Latency (batch 1, CPU)",
        "",
        f"Measured on {machine}; a median of many timed runs after a warm-up.",
        "",
        *_latency_rows(f.latencies),
        "",
        "## Files and parity",
        "",
        "- `model.pt2`: a `torch.export` program (needs torch only).",
        "- `model.onnx`: the same for ONNX Runtime (input `images`, output `logits`)."
        if not f.onnx_note
        else f"- {f.onnx_note}",
        "- `weights.pt`: the network's `state_dict`, for inputs `(x - mean) / std`.",
        "- `config.json`: everything on this card, each number with its unit.",
        "",
        "Each exported file was run by its runtime on every test image and compared with the "
        "trained model:",
        "",
        *_parity_rows(f.parities),
        "",
        "## Use",
        "",
        f"Inputs: float32 images in [0, 1], shaped N x {c} x {h} x {w}; the exported models "
        f"normalise them (mean {list(f.mean)}, std {list(f.std)}, per channel on the [0, 1] "
        "scale) and return one logit per class.",
        "",
        "```python",
        "import torch",
        'model = torch.export.load("model.pt2").module()',
        f"classes = model(torch.rand(1, {c}, {h}, {w})).argmax(1)  # your images in [0, 1]",
        "```",
        "",
        f"Classes, in label order: {', '.join(f.classes)}.",
        "",
        "## Training recipe",
        "",
        f"{f.epochs} epoch{'s' if f.epochs != 1 else ''} on {f.train_images:,} images, batch "
        f"{f.batch_size}, SGD with Nesterov momentum 0.9, weight decay 5e-5, peak learning rate "
        f"{f.lr:g} under one warm-up-then-cosine cycle, random horizontal flips, seed {f.seed}, "
        "BatchNorm statistics re-estimated on 10 training batches at the end; "
        f"{f.train_seconds:.0f} s of training.",
        "",
    ]
    return "\n".join(lines)
