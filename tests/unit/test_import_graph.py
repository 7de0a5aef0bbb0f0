"""The import graph, read from the source (ast, not at run time): the core below its entry points.

The core (store, config, model, metrics, scoring, surveys: every module of ``maturity`` but the
entry points) never imports ``collectors``, ``reports`` or ``web``; the entry points (the command
line, the actions, the wiring, the scale-out tasks of ``maturity.distributed``) are the one
layer above that wires them. No package
imports another that imports it back, directly or around a longer loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("maturity", "collectors", "reports", "web")
#: the entry layer: the only modules of ``maturity`` that may import the packages above the core
ENTRY = frozenset(
    {
        "maturity.__main__",
        "maturity.actions",
        "maturity.wiring",
        "maturity.pipeline",
    }
)
#: entry-layer packages: the command line, one module per group of commands; scale-out wires
#: collection and scoring into Celery tasks
ENTRY_PACKAGES = ("maturity.cli", "maturity.distributed")
ABOVE_CORE = ("collectors", "reports", "web")


def is_entry(name: str) -> bool:
    return name in ENTRY or any(
        name == package or name.startswith(package + ".") for package in ENTRY_PACKAGES
    )


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of our packages (the migrations' revisions are data, not modules)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path, root)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The modules of ``known`` that ``name`` imports (at the top, in a function, or for type
    checking alike), with the line of each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # "from a import b" imports a, and a.b when b is a module
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        for target in targets:
            # importing a.b.c runs a and a.b first
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                prefix = ".".join(parts[:n])
                if prefix in known and prefix != name:
                    yield prefix, node.lineno


def edges(root: Path = ROOT) -> dict[str, set[tuple[str, int]]]:
    found = modules(root)
    known = set(found)
    return {name: set(imported(name, path, known)) for name, path in found.items()}


def package_of(name: str, path: Path) -> str:
    """The node of the package graph: a package (folder), or an entry module on its own."""
    if name in ENTRY:
        return name
    for package in ENTRY_PACKAGES:
        if name == package or name.startswith(package + "."):
            return package
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _nested(a: str, b: str) -> bool:
    """One package inside (or equal to) the other: a package and its subpackages import each
    other freely (``web.app`` mounts ``web.api``); an entry module is nobody's subpackage."""
    if is_entry(a) or is_entry(b):
        return a == b
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    graph: dict[str, set[str]] = {}
    for name, targets in edges(root).items():
        source = package_of(name, found[name])
        for target, _ in targets:
            node = package_of(target, found[target])
            if not _nested(source, node):
                graph.setdefault(source, set()).add(node)
    return graph


def forbidden(root: Path = ROOT) -> list[str]:
    """Every import of a core module into collectors, reports, web or the entry layer."""
    found = []
    for name, targets in sorted(edges(root).items()):
        if not name.startswith("maturity") or is_entry(name):
            continue
        for target, line in sorted(targets):
            if target.split(".")[0] in ABOVE_CORE or is_entry(target):
                found.append(f"{name}:{line} imports {target}")
    return found


def test_the_core_imports_nothing_of_collectors_reports_web_or_the_entry_points() -> None:
    assert forbidden() == []


def test_no_package_imports_itself_back() -> None:
    assert cycles(package_graph()) == []


def test_the_graph_sees_every_package_and_its_layers() -> None:
    """The checks above read a real graph: the entry points reach every package."""
    graph = package_graph()
    assert {"collectors", "reports", "web", "maturity"} <= graph["maturity.cli"]
    assert "maturity" in graph["collectors"] and "maturity.store" in graph["reports"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "text",
    [
        "import collectors\n",
        "def f():\n    from reports import charts\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from web.app import x\n",
        "from maturity import cli\n",
        "from . import cli\n",
        "def f():\n    from maturity.cli.score import score\n",
    ],
)
def test_a_core_module_importing_above_the_core_is_caught(tmp_path: Path, text: str) -> None:
    root = _write(
        tmp_path,
        {
            "maturity/scoring.py": text,
            "maturity/cli/__init__.py": "",
            "maturity/cli/score.py": "",
            "reports/charts.py": "",
            "web/app.py": "",
        },
    )
    found = forbidden(root)
    assert found and all(f.startswith("maturity.scoring:") for f in found), found


def test_a_package_cycle_is_caught(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "web/pages/__init__.py": "from web.surveys import form\n",
            "web/surveys/form.py": "def f():\n    from web.pages import render\n",
        },
    )
    assert cycles(package_graph(root)) == [["web.pages", "web.surveys"]]


#: what is defined once: level names (maturity.model) and DORA labels (maturity.display)
DEFINED_ONCE = {
    "Lead time for changes": "maturity/display.py",
    "Change failure rate": "maturity/display.py",
    "Failed deployment recovery time": "maturity/display.py",
    "DORA keys": "maturity/display.py",
    "Intermediate": "maturity/model.py",
}


@pytest.mark.parametrize("text", sorted(DEFINED_ONCE))
def test_level_names_and_dora_labels_are_written_once(text: str) -> None:
    holders = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == text:
                holders.add(path.relative_to(ROOT).as_posix())
    for folder in ("web/templates", "reports/templates", "web/static"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and text in path.read_text(encoding="utf-8"):
                holders.add(path.relative_to(ROOT).as_posix())
    assert holders == {DEFINED_ONCE[text]}


METRICS = "maturity.metrics"


def metrics_graph(root: Path = ROOT) -> dict[str, set[str]]:
    return inner_graph(METRICS, root)


def inner_graph(of: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Per module of the package ``of``, the modules of the package it imports: a submodule
    by its name, the package itself (its face, ``__init__``) for any other name of it."""
    found = {
        name: path
        for name, path in modules(root).items()
        if name == of or name.startswith(of + ".")
    }
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in found)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:
                    if f"{module}.{alias.name}" in found:
                        targets.add(f"{module}.{alias.name}")
                    elif module in found:
                        targets.add(module)
        graph[name] = targets - {name}
    return graph


def test_the_metrics_modules_import_no_cycle_and_never_the_package_face() -> None:
    graph = metrics_graph()
    assert {f"{METRICS}.catalogue", f"{METRICS}.grid"} <= graph[METRICS]
    assert cycles(graph) == []
    assert sorted(name for name, targets in graph.items() if METRICS in targets) == []


CLI = "maturity.cli"


def test_the_command_line_modules_import_no_cycle_and_never_the_package_face() -> None:
    """The root application (``maturity.cli``) registers the commands of its modules; they share
    ``common`` and never import the root back."""
    graph = inner_graph(CLI)
    assert {f"{CLI}.common", f"{CLI}.collect", f"{CLI}.survey"} <= graph[CLI]
    assert cycles(graph) == []
    assert sorted(name for name, targets in graph.items() if CLI in targets) == []


@pytest.mark.parametrize(
    ("files", "broken"),
    [
        (
            {
                "maturity/metrics/a.py": "from maturity.metrics import b\n",
                "maturity/metrics/b.py": "def f():\n    from . import a\n",
            },
            "cycle",
        ),
        ({"maturity/metrics/a.py": "from maturity.metrics import CATALOGUE\n"}, "face"),
        ({"maturity/metrics/a.py": "from . import CATALOGUE\n"}, "face"),
    ],
)
def test_a_metrics_cycle_or_an_import_of_the_package_face_is_caught(
    tmp_path: Path, files: dict[str, str], broken: str
) -> None:
    root = _write(
        tmp_path,
        {"maturity/metrics/__init__.py": "from maturity.metrics import a\n", **files},
    )
    graph = metrics_graph(root)
    if broken == "cycle":
        assert cycles(graph) == [[f"{METRICS}.a", f"{METRICS}.b"]]
    else:
        assert graph[f"{METRICS}.a"] == {METRICS}
