"""``MODEL_CARD.md``: the model's description (:class:`ModelDescription`) for a reader."""

from __future__ import annotations

from collections.abc import Sequence

from nsearch.cost.latency import Latency
from nsearch.deployment.description import Int8Result, ModelDescription
from nsearch.deployment.parity import Parity

__all__ = ["model_card"]

FILES = {
    "model.pt2": "a `torch.export` program (needs torch only)",
    "model.onnx": "the same for ONNX Runtime (input `images`, output `logits`)",
    "model.pte": "an ExecuTorch program for the XNNPACK backend (phones, boards)",
    "model-int8.pte": "the int8 ExecuTorch program (PT2E static quantisation, XNNPACK)",
    "model-int8.onnx": "the int8 ONNX file (ONNX Runtime static quantisation, QDQ)",
    "weights.pt": "the network's `state_dict`, for inputs `(x - mean) / std`",
    "config.json": "everything on this card, each number with its unit",
}


def _latency_rows(latencies: Sequence[Latency]) -> list[str]:
    return [
        "| runtime | threads | median (ms) | p90 (ms) | IQR (ms) | timed runs |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {lat.runtime} | {lat.threads} | {lat.median_ms:.3f} | {lat.p90_ms:.3f} | "
         f"{lat.iqr_ms:.3f} | {lat.runs} |" for lat in latencies],
    ]  # fmt: skip


def _parity_rows(parities: Sequence[Parity]) -> list[str]:
    return [
        "| runtime | images | same class | largest logit difference | tolerance | ok |",
        "|---|---:|---:|---:|---:|---|",
        *[f"| {p.runtime} | {p.n_images:,} | {p.same_class:,} ({100 * p.same_class_fraction:.2f} "
         f"%) | {p.max_abs_diff:.2e} | {p.atol:g} | {'yes' if p.ok else 'NO'} |"
         for p in parities],
    ]  # fmt: skip


def _int8_section(d: ModelDescription) -> list[str]:
    if not d.int8 or d.test is None:
        return []
    fp32 = d.test
    rows = [
        "## fp32 and int8",
        "",
        "| file | runtime | test accuracy (95 % CI) | agreement with fp32 | size (bytes) | "
        "median latency (ms) |",
        "|---|---|---|---:|---:|---:|",
    ]
    fp32_latency = {lat.runtime: lat.median_ms for lat in d.latencies}
    for r in d.int8:
        fp32_name = r.file.replace("-int8", "")
        low, high = fp32.interval
        rows.append(
            f"| {fp32_name} | {r.runtime} | {fp32.percent:.2f} % ({low:.2f}-{high:.2f}) | - | "
            f"{r.fp32_file_bytes:,} | {_ms(fp32_latency.get(r.runtime))} |"
        )
        low, high = r.test.interval
        rows.append(
            f"| {r.file} | {r.runtime} | {r.test.percent:.2f} % ({low:.2f}-{high:.2f}) | "
            f"{100 * r.agreement / r.test.images:.2f} % | {r.file_bytes:,} "
            f"({r.size_ratio:.2f}x) | {_ms(None if r.latency is None else r.latency.median_ms)} |"
        )
    rows.append("")
    rows += [f"- {_int8_sentence(r)}" for r in d.int8]
    return [*rows, ""]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _int8_sentence(r: Int8Result) -> str:
    low, high = r.difference_ci95_points
    verdict = (
        "can be told apart from fp32's"
        if r.distinguishable
        else "cannot be told apart from fp32's"
    )
    return (
        f"`{r.file}` ({r.scheme}): its test accuracy {verdict} on these images (Newcombe's 95 % "
        f"interval of the difference, int8 minus fp32: {low:+.2f} to {high:+.2f} points)."
    )


def model_card(d: ModelDescription) -> str:
    """The model card as markdown."""
    c, h, w = d.input.shape_chw
    machine = d.latencies[0].machine if d.latencies else "this machine"
    lines = [
        f"# Model card: {d.space} trial {d.trial}",
        "",
        f"An image classifier of nsearch's `{d.space}` space. Weights: {d.weights}.",
        "",
        "## Architecture and cost",
        "",
        f"- Architecture: `{d.architecture_text}`",
        f"- Parameters: {d.params:,} ({d.params / 1e6:.3f} M)",
        f"- Multiply-accumulates per image: {d.macs:,} ({d.macs / 1e9:.4f} GMACs; conv + linear "
        "+ matmul)",
    ]
    if d.netscore_db is not None:
        lines.append(
            f"- NetScore: {d.netscore_db:.2f} dB = 20 log10(acc^2 / (params^0.5 * GMACs^0.5)), "
            "with the test accuracy in percent, params in millions, GMACs"
        )
    lines += ["", "## Accuracy", ""]
    if d.test is not None:
        low, high = d.test.interval
        lines.append(
            f"Test accuracy **{d.test.percent:.2f} %** ({d.test.correct:,} of {d.test.images:,} "
            f"test images), Wilson 95 % interval {low:.2f}-{high:.2f} %. The test images played "
            "no part in the search or in training."
        )
    else:
        lines.append("Test accuracy was not measured on this machine.")
    if d.validation is not None:
        low, high = d.validation.interval
        lines.append(
            f"In the search, after a short training, it reached {d.validation.percent:.2f} % "
            f"validation accuracy ({low:.2f}-{high:.2f} %, {d.validation.images:,} images"
            + (f"; fidelity {d.validation_fidelity}, epochs x training images"
               if d.validation_fidelity else "")  # fmt: skip
            + ")."
        )
    lines += [
        "",
        *_int8_section(d),
        "## Latency (batch 1, CPU)",
        "",
        f"Measured on {machine}; a median of many timed runs after a warm-up, each in the "
        "runtime that would run the file.",
        "",
        *_latency_rows(d.latencies),
        "",
        "## Files and parity",
        "",
        *(f"- `{name}`: {FILES.get(name, name)}." for name in d.files),
        *(f"- {note}" for note in d.notes),
        "",
        "Each model file was run by its runtime, in a fresh process where it is a PyTorch "
        "artefact, on every test image and compared with the trained model:",
        "",
        *_parity_rows(d.parities),
        "",
        "## Use",
        "",
        f"Inputs: float32 images in [0, 1], shaped N x {c} x {h} x {w} (preprocessing: "
        f"{d.input.preprocessing}); the model files normalise them (mean {list(d.input.mean)}, "
        f"std {list(d.input.std)}, per channel on the [0, 1] scale) and return one logit per "
        "class.",
        "",
        "```python",
        "import torch",
        'model = torch.export.load("model.pt2").module()',
        f"classes = model(torch.rand(1, {c}, {h}, {w})).argmax(1)  # your images in [0, 1]",
        "```",
        "",
        f"Classes, in label order: {', '.join(d.classes)}.",
        "",
    ]
    if d.training is not None:
        t = d.training
        lines += [
            "## Training recipe",
            "",
            f"{t.epochs} epoch{'s' if t.epochs != 1 else ''} on {t.train_images:,} images of "
            f"`{t.data}`, batch {t.batch_size}, peak learning rate {t.peak_lr:g}, seed {t.seed}: "
            f"{t.recipe}; {t.train_seconds:.0f} s of training.",
            "",
        ]
    return "\n".join(lines)
