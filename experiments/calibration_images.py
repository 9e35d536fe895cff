"""How many calibration images does int8 need? One searched model exported with ``--quantize
int8`` at several ``--calibration-images`` counts; for each, both int8 models' test accuracy, its
agreement with fp32 on every test image, and what quantizing took.

    python experiments/calibration_images.py --run nsearch-out --trial 0 --counts 32 128 256 1024

Writes ``results/calibration_images.json`` after every count (a finished count is not redone).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from nsearch import export
from nsearch.cost import machine_description

RESULTS = Path(__file__).parent / "results"


def one_count(run: Path, trial: int, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nsearch-calibration-") as parent:
        folder = str(Path(parent) / "model")
        start = time.perf_counter()
        code = export.main(["--out", str(run), "--trial", str(trial), "--dest", folder,
                            "--quantize", "int8", "--calibration-images", str(count)])  # fmt: skip
        if code != 0:
            raise SystemExit(f"export exited with status {code} at {count} calibration images")
        config = json.loads((Path(folder) / "config.json").read_text())
    keep = ("test_accuracy_percent", "test_accuracy_ci95_percent",
            "top1_agreement_with_fp32_percent", "test_accuracy_difference_ci95_points",
            "size_ratio_to_fp32")  # fmt: skip
    return {
        "seconds_with_export": round(time.perf_counter() - start, 1),
        "fp32_test_accuracy_percent": config["test_accuracy_percent"],
        "int8": {name: {k: v[k] for k in keep} for name, v in config["int8"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="A search's --out folder.")
    parser.add_argument("--trial", type=int, required=True, help="The trial to export.")
    parser.add_argument("--counts", type=int, nargs="+", default=[32, 128, 256, 1024])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    path = args.out / "calibration_images.json"
    result = json.loads(path.read_text()) if path.is_file() else {"counts": {}}
    result.update(run=str(args.run), trial=args.trial, machine=machine_description())
    for count in args.counts:
        if str(count) in result["counts"]:
            continue
        result["counts"][str(count)] = one_count(args.run, args.trial, count)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(count, json.dumps(result["counts"][str(count)]["int8"]), flush=True)


if __name__ == "__main__":
    main()
