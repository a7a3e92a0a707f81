"""No import circle among distgan's modules: the layers run one way (config <- context <- methods).

Every import counts, at module level or inside a function (a lazy import is still a dependency), except those
under `if TYPE_CHECKING:`. Importing a.b.c also runs the package a.b's __init__, so that edge counts too, unless
the importer is inside a.b (whose __init__ is then already running); the top package `distgan` is left out, since
importing any of its modules runs its __init__ first.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "distgan").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path], me: str) -> set[str]:
    """The distgan modules `path` (module `me`) imports, with the packages each import runs on the way (not
    `me`'s own packages, which are already running when `me` is imported)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                   ast.unparse(node.test) for n in ast.walk(node)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                      for a in node.names}
    edges = set()
    for name in names:
        parts = name.split(".")
        for i in range(2, len(parts) + 1):  # a.b.c runs a.b's __init__ and a.b.c
            module = ".".join(parts[:i])
            if module in known and parts[0] == "distgan" and not me.startswith(module + "."):
                edges.add(module)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_of_distgan_imports_itself_back():
    known = modules()
    graph = {name: imports(path, known, name) - {name} for name, path in known.items()}
    assert cycles(graph) == []


def test_the_config_imports_no_method():
    known = modules()
    config = imports(known["distgan.config"], known, "distgan.config")
    assert not any(m == "distgan.methods" or m.startswith("distgan.methods.") for m in config)


def test_a_circle_would_be_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
