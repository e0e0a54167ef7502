"""The package's import graph: no circle (function-local imports counted, ``TYPE_CHECKING`` ones
not), and the layers point one way: fronts → pipeline → core, views read render, the Ollama
adapter is built by the pipeline alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ollama_nb.standin import StandInServer

PACKAGE = Path(__file__).resolve().parent.parent / "ollama_nb"

FRONTS = {"__init__", "api", "magic", "commands", "chatwidget", "lab", "transformers"}
PIPELINE = {"pipeline", "sidebyside", "models"}
VIEWS = {"views", "plain", "view", "clock", "comparisonview", "kernel", "progressview"}
RENDER = {"render", "inside_html", "comparison_html", "markdown", "persist"}
ADAPTER = {"ollama_backend"}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports, anywhere in it but under ``if TYPE_CHECKING``."""
    found: set[str] = set()
    own = path.stem if path.name != "__init__.py" else "__init__"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("ollama_nb.")
        ):
            found.add((node.module or "").split(".")[1])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(own)
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem if p.name != "__init__.py" else "__init__": p for p in PACKAGE.glob("*.py")}
    modules["standin"] = PACKAGE / "standin" / "__init__.py"
    return {name: {m for m in imports(path) if m in modules} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("who", "may_not_import", "why"),
    [
        (set(), FRONTS - {"__init__"}, "nothing imports a front"),
        ({"*but the pipeline"}, ADAPTER, "only the pipeline builds the Ollama adapter"),
        (RENDER, PIPELINE | VIEWS | FRONTS, "rendering imports no pipeline, view or front"),
        (VIEWS, FRONTS | PIPELINE, "views import no front and no pipeline"),
        (PIPELINE, VIEWS | FRONTS, "the pipeline chooses no view"),
    ],
)
def test_layers(who: set[str], may_not_import: set[str], why: str) -> None:
    edges = graph()
    sources = who or set(edges) - {"__init__"}
    if who == {"*but the pipeline"}:
        sources = set(edges) - {"pipeline"}
    wrong = sorted(f"{a} → {b}" for a in sources for b in edges.get(a, ()) if b in may_not_import and a != b)
    if not who:  # nothing but the fronts themselves
        wrong = [w for w in wrong if w.split(" → ")[0] not in FRONTS]
    assert wrong == [], why


def test_core_modules_import_no_front_or_view() -> None:
    edges = graph()
    core = set(edges) - FRONTS - PIPELINE - VIEWS - RENDER - ADAPTER - {"standin"}
    wrong = sorted(
        f"{a} → {b}" for a in core for b in edges[a] if b in FRONTS | PIPELINE | VIEWS | RENDER | ADAPTER
    )
    assert wrong == []


def test_headless_chat_and_compare_load_no_jupyter(server: StandInServer) -> None:
    """``chat(display="none")`` and a two-model ``compare(display="none")`` in a plain
    interpreter import no Jupyter package."""
    code = (
        "import sys, ollama_nb\n"
        f"host = {server.url!r}\n"
        "r = ollama_nb.chat('hi', model='llama3.2', host=host, display='none')\n"
        "c = ollama_nb.compare('hi', models=['llama3.2', 'qwen3'], host=host, display='none')\n"
        "assert r.content and len(c) == 2, (r, c)\n"
        "print(sorted(m for m in ('ipywidgets', 'IPython', 'nbformat', 'ipykernel') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


if __name__ == "__main__":  # python tests/test_layers.py: the graph, for a note
    edges = graph()
    for name in sorted(edges):
        print(f"{name:16} → {', '.join(sorted(edges[name]))}")
    print("cycles:", cycles(edges))
