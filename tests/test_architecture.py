"""The package's layering, read from its source: imports run down the layers, never up, never round.

Every ``import`` statement is parsed, the lazy ones inside functions included, so a late import
cannot hide a dependency. The order (lowest first) is written and justified in
``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "targeting"

# Lowest first. A module may import its own layer or any layer below it.
LAYERS = [
    ("data", "privacy", "datasets"),
    ("features",),
    ("models",),
    ("evaluation",),
    ("scoring", "compiled"),
    ("store", "tracking", "server", "distributed"),
    ("experiments", "review", "loop", "demo_journey"),
    ("cli",),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    """The layer of ``targeting.x.y`` (None for the package root, which re-exports)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _type_only(tree: ast.AST) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:`` (never run)."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            nodes |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return nodes


def _imports(path: Path, runtime_only: bool = False) -> list[tuple[str, int]]:
    """Every ``targeting`` module imported by ``path`` (lazy imports included), with its line.

    ``runtime_only`` leaves out the imports under ``if TYPE_CHECKING:``: they name a type for
    the checker and never run, so they cannot close a cycle (they still count for the layers).
    """
    return _imports_in(path.read_text(), _module_name(path), path.name == "__init__.py",
                       runtime_only)


def _imports_in(source: str, module: str, is_package: bool,
                runtime_only: bool = False) -> list[tuple[str, int]]:
    """:func:`_imports` on source text, as if it were ``module``."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    tree = ast.parse(source)
    skip = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            # ``from targeting.x import y`` may name a submodule y: count it as x.y
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names
                      if _is_module(f"{base}.{a.name}")]
    return [(name, line) for name, line in found if name.split(".")[0] == "targeting"]


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return ((PACKAGE.parent / rel).with_suffix(".py").exists()
            or (PACKAGE.parent / rel / "__init__.py").exists())


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_import_runs_up_the_layers():
    upward = []
    for path in _sources():
        module = _module_name(path)
        mine = _layer(module)
        if mine is None:
            continue
        for name, line in _imports(path):
            theirs = _layer(name)
            if theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} "
                              f"({LAYERS[theirs][0]} is above {LAYERS[mine][0]})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_import_cycle_between_files():
    graph: dict[str, set[str]] = {}
    for path in _sources():
        module = _module_name(path)
        targets = {name for name, _ in _imports(path, runtime_only=True)
                   if _is_module(name) and name != module}
        # a package's __init__ re-exporting its own children is not a cycle with them
        graph[module] = {t for t in targets if not module.startswith(t + ".")
                         and not (path.name == "__init__.py" and t.startswith(module + "."))}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one file (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_lazy_relative_and_type_only_imports():
    source = ("from typing import TYPE_CHECKING\n"
              "from ..features import pipeline\n"           # relative, names a submodule
              "if TYPE_CHECKING:\n    from targeting.models.propensity import PropensityModel\n"
              "def f():\n    from targeting.cli import main\n")  # lazy, inside a function
    found = {name for name, _ in _imports_in(source, "targeting.data.probe", False)}
    assert {"targeting.features", "targeting.features.pipeline", "targeting.cli",
            "targeting.models.propensity"} <= found
    runtime = {name for name, _ in _imports_in(source, "targeting.data.probe", False,
                                               runtime_only=True)}
    assert "targeting.models.propensity" not in runtime and "targeting.cli" in runtime
    assert _layer("targeting.cli") > _layer("targeting.data.probe")


@pytest.mark.parametrize("heavy", ["mlflow", "shap", "dask", "distributed", "pyspark"])
def test_import_targeting_does_not_import_heavy_libraries(heavy):
    code = f"import sys, targeting; print({heavy!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", f"import targeting imported {heavy}"


# -- validate once, build once ---------------------------------------------------------------
def _count_calls(monkeypatch, owner, name: str, when=lambda *a, **k: True) -> list:
    """Count calls of ``owner.name`` (the real function still runs)."""
    calls, real = [], getattr(owner, name)

    def counted(*args, **kwargs):
        if when(*args, **kwargs):
            calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_fit_validates_its_tables_once(monkeypatch):
    import targeting as tg
    from targeting.data import schema

    world = tg.demo_world(n_users=2_000, random_state=4)
    # validate() checks each table once per call: count the checks of the orders table.
    orders = schema.CONTRACTS["orders"]
    checks = _count_calls(monkeypatch, schema, "_check_table",
                          lambda contract, *_: contract is orders)
    model = tg.PropensityModel("snacks", progress=False, n_estimators=30)
    model.fit(world.tables, world.as_of)
    assert len(model.snapshots_) >= 3  # several feature windows, still one validation
    assert len(checks) == 1


def test_campaign_dataset_builds_features_once(monkeypatch):
    import targeting as tg
    from targeting.data import schema
    from targeting.features.pipeline import FeaturePipeline

    world = tg.demo_world(n_users=2_000, random_state=1)
    builds = _count_calls(monkeypatch, FeaturePipeline, "_build")
    campaign = schema.CONTRACTS["campaign"]
    checks = _count_calls(monkeypatch, schema, "_check_table",
                          lambda contract, *_: contract is campaign)
    data = tg.campaign_dataset(world.tables, world.campaign_id)
    assert len(data) > 0
    assert (len(builds), len(checks)) == (1, 1)
