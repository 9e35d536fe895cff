"""The search's Pareto front trained properly, model after model (``python -m nsearch.finalize
--front``): each front model by :func:`~nsearch.deployment.final_training.finalize`, except one
whose bundle already holds a finished result of the same epochs, which is read back; then
``final_front.csv`` and the section "Final training of the front" of ``report.md``, which says
which model is best at its final accuracy and whether the search ranked the models as their
final training does.

Units as in ``trials.csv``: accuracy in percent with its Wilson 95 % interval, ``params`` a
count, ``macs`` per image, NetScore in dB (of the test accuracy, params in millions, GMACs).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nsearch.core.metrics import Measured, netscore_or_inf
from nsearch.core.stats import kendall_tau
from nsearch.deployment.bundle import FORMATS
from nsearch.deployment.final_training import DEFAULT_EPOCHS, finalize
from nsearch.search.results import read_records
from nsearch.search.run_info import open_run
from nsearch.search.selection import Selection, front

__all__ = ["CSV_FILE", "SECTION", "FrontRow", "finalize_front", "finished_test"]

CSV_FILE = "final_front.csv"
SECTION = "## Final training of the front"


@dataclass(frozen=True)
class FrontRow:
    """One front model after its final training.

    Attributes:
        rank: its rank on the front (1 = most accurate), as in ``pareto.csv``.
        trial: its search trial.
        fidelity: the fidelity of its search accuracy, epochs x training images ("4x4000").
        validation: its search (short training) validation accuracy.
        params: parameters, a count.
        macs: multiply-accumulates per image.
        test: its test accuracy after the final training.
        folder: its bundle.
        feasible_final: whether the test accuracy clears the floor by the run's floor rule.
        best_final: the feasible model of the highest final NetScore.
        read_back: its result was read from a bundle finished before, not trained now.
    """

    rank: int
    trial: int
    fidelity: str
    validation: Measured
    params: int
    macs: int
    test: Measured
    folder: Path
    feasible_final: bool = False
    best_final: bool = False
    read_back: bool = False

    @property
    def netscore_final_db(self) -> float:
        """NetScore of the test accuracy, in dB (``-inf`` at 0 %)."""
        return netscore_or_inf(self.test.percent, self.params / 1e6, self.macs / 1e9)

    def csv_row(self) -> dict[str, Any]:
        """Its ``final_front.csv`` row, with the column names of ``trials.csv``."""
        (val_low, val_high), (low, high) = self.validation.interval, self.test.interval
        return {
            "rank": self.rank, "trial": self.trial, "fidelity": self.fidelity,
            "accuracy_percent": self.validation.percent, "accuracy_ci_low": val_low,
            "accuracy_ci_high": val_high, "params": self.params,
            "params_millions": self.params / 1e6, "macs": self.macs, "gmacs": self.macs / 1e9,
            "test_accuracy_percent": self.test.percent, "test_ci_low": low, "test_ci_high": high,
            "test_correct": self.test.correct, "test_images": self.test.images,
            "netscore_final_db": self.netscore_final_db, "feasible_final": self.feasible_final,
            "best_final": self.best_final, "read_back": self.read_back, "folder": str(self.folder),
        }  # fmt: skip


def finished_test(folder: Path, trial: int, epochs: int) -> Measured | None:
    """The test accuracy of a finished final training of ``trial`` for ``epochs`` epochs in
    ``folder``, read from its ``config.json``; ``None`` where there is none (no folder, a run
    stopped before its files were all written, another trial, other epochs, an export)."""
    path = folder / "config.json"
    if not all((folder / name).is_file() for name in ("config.json", "weights.pt",
                                                       "MODEL_CARD.md")):  # fmt: skip
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    training = config.get("training") if isinstance(config, dict) else None
    percent, images = config.get("test_accuracy_percent"), config.get("test_images")
    if (not isinstance(training, dict) or training.get("epochs") != epochs
            or config.get("trial") != trial or percent is None or not images):  # fmt: skip
        return None
    return Measured(round(float(percent) * int(images) / 100), int(images))


def _judged(rows: list[FrontRow], selection: Selection) -> list[FrontRow]:
    """``rows`` with ``feasible_final`` by the run's floor rule on the test accuracy, and
    ``best_final`` on the feasible one of the highest final NetScore (the higher rank on a tie)."""

    def clears(test: Measured) -> bool:
        surely = test.interval[0] if selection.floor_confidence == "confident" else test.percent
        return surely >= selection.min_accuracy

    rows = [dataclasses.replace(r, feasible_final=clears(r.test)) for r in rows]
    feasible = [r for r in rows if r.feasible_final]
    best = max(feasible, key=lambda r: (r.netscore_final_db, -r.rank), default=None)
    return [dataclasses.replace(r, best_final=r is best) for r in rows]


def finalize_front(
    out: str | Path,
    *,
    top: int | None = None,
    epochs: int = DEFAULT_EPOCHS,
    progress: bool = True,
    train_limit: int | None = None,
    datamodule: Any = None,
    module: Callable[[torch.nn.Module], Any] | None = None,
    quantize: str | None = None,
    calibration_images: int | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[FrontRow]:
    """Train every model of the search's Pareto front (or its first ``top``, in the order of
    ``pareto.csv``) by :func:`~nsearch.deployment.final_training.finalize`, one after another,
    into ``out/final/trial_NNNN``; write ``out/final_front.csv`` and the section "Final training
    of the front" of ``out/report.md``.

    Resumable: a model whose folder holds a finished result of the same ``epochs``
    (:func:`finished_test`) is not trained again; after Ctrl-C, the models finished so far are
    kept, and the next call trains only the rest. The other arguments are
    :func:`~nsearch.deployment.final_training.finalize`'s.

    Returns:
        One row per model, in front order.

    Raises:
        ValueError: if ``top`` < 1, ``epochs`` < 1, or the front is empty; and as
            :func:`~nsearch.deployment.final_training.finalize` does.
        FileNotFoundError: if ``out`` holds no search or the data is missing.
    """
    from tqdm.auto import tqdm

    if top is not None and top < 1:
        raise ValueError(f"`top` must be at least 1, got {top}.")
    if epochs < 1:
        raise ValueError(f"`epochs` must be at least 1, got {epochs}.")
    run = open_run(out)
    selection = run.info.settings.selection
    whole = front(read_records(run.study, run.out), selection)
    if not whole:
        raise ValueError(f"The front of {str(run.out)!r} is empty: no trained trial is within "
                         "the budgets yet.")  # fmt: skip
    chosen = whole[:top]
    rows: list[FrontRow] = []
    with tqdm(total=len(chosen), unit="model", disable=not progress) as bar:
        for rank, record in enumerate(chosen, start=1):
            bar.set_description(f"model {rank}/{len(chosen)}: trial {record.trial}")
            folder = run.out / "final" / f"trial_{record.trial:04d}"
            test = finished_test(folder, record.trial, epochs)
            read_back = test is not None
            if test is None:
                bundle = finalize(run.out, trial=record.trial, epochs=epochs,
                                  train_limit=train_limit, progress=progress,
                                  quantize=quantize, calibration_images=calibration_images,
                                  formats=formats, datamodule=datamodule, module=module,
                                  dest=folder)  # fmt: skip
                test = bundle.description.test
                assert test is not None
            assert record.validation is not None and record.params is not None
            assert record.macs is not None
            rows.append(FrontRow(rank, record.trial, getattr(record, "fidelity", ""),
                                 record.validation, record.params, record.macs, test, folder,
                                 read_back=read_back))  # fmt: skip
            bar.update()
    rows = _judged(rows, selection)
    write_csv(run.out / CSV_FILE, rows)
    section = report_section(rows, selection, epochs=epochs, front_size=len(whole))
    write_section(run.out / "report.md", section)
    return rows


def write_csv(path: Path, rows: Sequence[FrontRow]) -> None:
    """``final_front.csv``: one row per model (:meth:`FrontRow.csv_row`)."""
    records = [r.csv_row() for r in rows]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def rank_agreement(rows: Sequence[FrontRow]) -> str:
    """Kendall's tau between the search's validation accuracy and the final test accuracy, in
    one sentence."""
    n = len(rows)
    if n < 5:
        return f"Kendall's tau: needs at least 5 models, got {n}."
    try:
        r = kendall_tau([x.validation.percent for x in rows], [x.test.percent for x in rows])
    except ValueError as error:  # a constant accuracy
        return f"Kendall's tau: {error}"
    return (f"Kendall's tau {r.tau:.2f} (95 % interval {r.low:.2f} to {r.high:.2f}, "
            f"{r.n} models).")  # fmt: skip


def report_section(rows: Sequence[FrontRow], selection: Selection, *, epochs: int,
                   front_size: int) -> str:  # fmt: skip
    """The report's section "Final training of the front": the table, the best feasible model
    at final accuracy and the rank agreement of validation and test accuracy."""
    which = (f"All {len(rows)} models" if len(rows) == front_size
             else f"The first {len(rows)} of the {front_size} models")  # fmt: skip
    lines = [
        SECTION, "",
        f"{which} of the front, each trained from scratch for {epochs} epochs on the training "
        "and validation images (`python -m nsearch.finalize --front`) and tested once. "
        "Accuracy in percent with its Wilson 95 % interval; NetScore (dB) of the test "
        "accuracy.", "",
        "| Rank | Trial | Fidelity | Validation % | Params (M) | GMACs | Test % (95 % CI) "
        "| NetScore final (dB) | Feasible | Folder |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        low, high = r.test.interval
        lines.append(f"| {r.rank} | {r.trial} | {r.fidelity or '-'} | {r.validation.percent:.2f} "
                     f"| {r.params / 1e6:.3f} | {r.macs / 1e9:.4f} | {r.test.percent:.2f} "
                     f"({low:.2f}-{high:.2f}) | {r.netscore_final_db:.2f} "
                     f"| {'yes' if r.feasible_final else 'no'} | `{r.folder.name}` |")  # fmt: skip
    floor = f"the {selection.min_accuracy:g} % floor"
    surely = ("its Wilson interval lies at or above" if selection.floor_confidence == "confident"
              else "its accuracy is at or above")  # fmt: skip
    best = next((r for r in rows if r.best_final), None)
    lines += ["", f"A model is feasible here when, on the test images, {surely} {floor}. "
              + (f"Best feasible at final accuracy: trial {best.trial} (rank {best.rank}), test "
                 f"accuracy {best.test.percent:.2f} %, NetScore {best.netscore_final_db:.2f} dB."
                 if best is not None else "None of these models is feasible at final accuracy."),
              "", "Does the search rank these models as their final training does? "
              "Validation accuracy against test accuracy: " + rank_agreement(rows)]  # fmt: skip
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Put ``section`` into the Markdown file ``path``: in place of a section of the same
    heading (up to the next ``## `` heading), else at its end; the rest is kept as it is."""
    text = path.read_text() if path.is_file() else ""
    heading = section.splitlines()[0]
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    found = pattern.search(text)
    if found:
        after = "\n\n" if found.end() < len(text) else "\n"  # a blank line before the next
        text = text[: found.start()] + section + after + text[found.end() :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + section + "\n"
    path.write_text(text)
