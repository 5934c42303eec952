"""No import cycles in the data and metrics packages: a helper lives in the module that owns it.

Imports are read from the source (function-level ones included), so a lazy import that only
hides a cycle at load time still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PKG = Path(__file__).resolve().parents[1] / "flashbench"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in PKG.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                mod = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
                # `from . import video` imports the submodule
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                if t.startswith("flashbench") and t != name and (PKG.parent / (t.replace(".", "/") + ".py")).is_file():
                    graph.add_edge(name, t)
    return graph


def test_data_and_metrics_modules_import_without_cycles():
    graph = import_graph()
    mine = {"flashbench.data.builder", "flashbench.data.magicdata", "flashbench.data.sam2_source",
            "flashbench.metrics.fid", "flashbench.metrics.fvd", "flashbench.metrics.metric_modules"}
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1 and c & mine]
    assert not cycles, cycles
