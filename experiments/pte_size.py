"""Where the bytes of an ExecuTorch program go: weights, quantization scales, XNNPACK graphs, the
program itself, alignment.

An int8 ``.pte`` of a small network is larger than a quarter of its fp32 twin. This splits each
file into the parts that explain why, and prints one table:

- ``weights``: the named data that is not a quantization scale (fp32 weights, or int8 weights with
  their int32 biases);
- ``scales``: the named data whose key starts with ``scale_``, per-channel fp32 scales (int8 only);
- ``delegate graphs``: the XNNPACK subgraphs lowered into the file (operators, shapes, tensor
  references, without the weights);
- ``program``: ExecuTorch's own flatbuffer (execution plan, tensor metadata, the keys of the named
  data);
- ``alignment``: what is left, padding between segments.

    python experiments/pte_size.py OUT/final/trial_0022/model.pte \
        OUT/final/trial_0022/model-int8.pte

It reads ExecuTorch's private serialisation module, so an ExecuTorch release may move it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class PteSize:
    """The parts of one ``.pte`` file, in bytes; they add up to ``total``."""

    total: int
    weights: int
    scales: int
    delegate_graphs: int
    program: int
    alignment: int


def pte_size(path: Path) -> PteSize:
    """Split ``path`` into its parts (see the module's docstring)."""
    from executorch.exir._serialize._program import _ExtendedHeader, deserialize_pte_binary

    data = path.read_bytes()
    header = _ExtendedHeader.from_bytes(data[8:])
    pte = deserialize_pte_binary(data)
    named = pte.named_data
    weights = scales = 0
    for key, index in named.pte_data.items() if named is not None else ():
        buffer = named.buffers[index if isinstance(index, int) else index.buffer_index]
        size = len(getattr(buffer, "buffer", buffer))
        if key.startswith("scale_"):
            scales += size
        else:
            weights += size
    graphs = sum(len(d.data) for d in pte.program.backend_delegate_data)
    if not header.is_valid():
        raise ValueError(f"{path} has no extended header; is it an ExecuTorch program?")
    program = header.program_size
    return PteSize(total=len(data), weights=weights, scales=scales, delegate_graphs=graphs,
                   program=program,
                   alignment=len(data) - program - weights - scales - graphs)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", help="ExecuTorch programs (.pte).")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = parser.parse_args()
    for path in args.files:
        if not path.is_file() or path.suffix != ".pte":
            parser.error(f"{str(path)!r} is not a .pte file; give ExecuTorch programs.")
    try:
        sizes = {str(path): pte_size(path) for path in args.files}
    except ImportError:
        parser.error("ExecuTorch is not installed; pip install -e '.[deploy]'.")
    except ValueError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps({k: asdict(v) for k, v in sizes.items()}, indent=2))
        return
    parts = [f.name for f in fields(PteSize) if f.name != "total"]
    print("| file | total (B) | " + " | ".join(p.replace("_", " ") for p in parts) + " |")
    print("| --- | ---: |" + " ---: |" * len(parts))
    for name, size in sizes.items():
        cells = [f"{getattr(size, p):,} ({getattr(size, p) / size.total:.1%})" for p in parts]
        print(f"| {Path(name).name} | {size.total:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
