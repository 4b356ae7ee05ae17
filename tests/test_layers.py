"""Data flows one way: no module imports one that comes later in the flow (style.md)."""
from __future__ import annotations

import ast
from pathlib import Path

BATCH = Path(__file__).resolve().parents[1] / "batch"

# Earlier layers first. A module may import its own layer and the layers before it.
LAYERS = [
    {"money"},
    {"model"},
    {"schema", "config", "home", "outcome"},
    {"cells", "sheetxml", "sheetreach", "guard"},
    {"read", "grid", "params", "intake"},
    {"rules"},
    {"validate"},
    {"guarantee"},
    {"ledger", "fund", "codec"},
    {"process"},
    {"tables", "ledgerdb", "funddb", "guaranteedb", "store"},
    {"summary"},
    {"reports"},
    {"lock", "runlog", "recovery", "parallel", "work", "behind"},
    {"pipeline"},
    {"check", "setup", "status", "upkeep", "codes", "mail"},
    {"demo", "demodata", "runner"},
    {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def top_module(path: Path) -> str:
    return path.relative_to(BATCH).parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """batch modules imported by one file, at any depth of the package."""
    tree = ast.parse(path.read_text("utf-8"))
    depth = len(path.relative_to(BATCH).parts) - 1
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > depth:                     # reaches the batch package itself
                base = (node.module or "").split(".")[0]
                names |= {base} if base else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("batch."):
            names.add(node.module.split(".")[1])
    return names


def test_every_module_has_a_layer():
    modules = {top_module(p) for p in BATCH.rglob("*.py")} - {"__init__"}
    assert modules <= set(RANK), sorted(modules - set(RANK))


def test_no_module_imports_a_later_one():
    wrong = []
    for path in BATCH.rglob("*.py"):
        me = top_module(path)
        if me == "__init__":
            continue
        for other in imported(path) - {me}:
            if other in RANK and RANK[other] > RANK[me]:
                wrong.append(f"{path.relative_to(BATCH)} imports {other}")
    assert not wrong, wrong
