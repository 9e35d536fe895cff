"""Fail if any modules of a package import each other in a circle.

Counts every import grimp finds: module level, inside functions, and under ``TYPE_CHECKING``.
Run from the repository's root (``.ci/lint-imports``).

    python check_cycles.py nsearch
"""

from __future__ import annotations

import sys

import grimp


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds a cycle)."""
    nodes = sorted(graph.modules)
    successors = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules)
                  for m in nodes}  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the package is small enough to recurse
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in successors[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in nodes:
        if node not in index:
            visit(node)
    return groups


def main(package: str) -> int:
    graph = grimp.build_graph(package, cache_dir=None)
    found = cycles(graph)
    for group in found:
        print(f"Import cycle among {len(group)} modules: {', '.join(group)}")
        for a in group:
            for b in sorted(graph.find_modules_directly_imported_by(a) & set(group)):
                lines = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                print(f"  {a} imports {b} (line {', '.join(map(str, lines))})")
    print(f"{len(graph.modules)} modules of {package}, {len(found)} import cycle(s).")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "nsearch"))
