"""The house: symcli's imports (lazy ones inside functions included) form no cycle, run one way between the
packages (docs/architecture.md), leave the science and the Lasso free of I/O, and no module is over about 500
lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "symcli"
MAX_LINES = 520  # "about 500"

# The packages each package may import (besides itself): the arrows of docs/architecture.md, run one way.
# cli -> runs -> (datasets, embeddings, projections, fit) -> (nets, science) -> lasso -> core; the report reads
# results folders (runs' layout, datasets' manifests) and calls the science; the text pipeline never imports the
# runner.
ALLOWED = {
    "core": set(),
    "lasso": {"core"},
    "nets": {"lasso", "core"},
    "science": {"lasso", "core"},
    "datasets": {"core"},
    "embeddings": {"datasets", "core"},
    "projections": {"core"},
    "fit": {"nets", "science", "lasso", "core"},
    "runs": {"datasets", "embeddings", "projections", "fit", "nets", "science", "lasso", "core"},
    "report": {"runs", "datasets", "fit", "science", "lasso", "core"},
    "cli": {"report", "runs", "datasets", "embeddings", "projections", "fit", "nets", "science", "lasso", "core"},
    "__main__": {"cli"},
}
# Modules that read or write no file (their callers hand them arrays): no file-system or serialisation imports.
NO_IO = ("science", "lasso")
IO_MODULES = {"pathlib", "json", "io", "shutil", "tempfile", "pickle", "pyarrow", "pandas", "symcli.core.paths"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = ("symcli",) + p.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts).removesuffix(".__init__")] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """{module: the symcli modules it imports anywhere in its body}."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for name in names:
                while name and name not in mods:
                    name = name.rpartition(".")[0]
                if name and name not in (m, "symcli"):
                    graph[m].add(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v) :] + [v]
            if v not in state and (found := visit(v)):
                return found
        state[u] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def package(module: str) -> str:
    """The package a module belongs to: 'symcli.runs.config' -> 'runs', 'symcli.projections' -> 'projections'."""
    return module.split(".")[1] if module != "symcli" else "symcli"


def package_arrows(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """{(package, imported package): ['module -> module', ...]} for the imports that cross packages."""
    out: dict[tuple[str, str], list[str]] = {}
    for m, deps in graph.items():
        for d in deps:
            if package(m) != package(d):
                out.setdefault((package(m), package(d)), []).append(f"{m} -> {d}")
    return out


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph["symcli.cli.app"] >= {"symcli.runs.runner", "symcli.runs.config"}  # the walk sees lazy imports too
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_every_package_is_placed():
    assert {package(m) for m in _modules()} - {"symcli"} == set(ALLOWED)


def test_the_arrows_between_packages_run_one_way():
    arrows = package_arrows(import_graph())
    wrong = {f"{a} -> {b}": found for (a, b), found in arrows.items() if b not in ALLOWED[a]}
    assert not wrong, wrong
    packages = {a: {b for (x, b) in arrows if x == a} for a in ALLOWED}
    cycle = find_cycle(packages)
    assert cycle is None, " -> ".join(cycle)


def test_the_arrow_check_catches_an_arrow_back_up():
    planted = {"symcli.embeddings.embed": {"symcli.runs.distributed"}, "symcli.runs.distributed": set()}
    arrows = package_arrows(planted)
    assert [(a, b) for (a, b) in arrows if b not in ALLOWED[a]] == [("embeddings", "runs")]


def test_the_science_and_the_lasso_do_no_io():
    for m, path in _modules().items():
        if package(m) not in NO_IO:
            continue
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {i.split(".")[0] for i in imported} & IO_MODULES and not imported & IO_MODULES, (m, imported)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "open" not in calls, m


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_about_500_lines():
    sizes = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not big, big
