"""The package's layers: engines import no Dagster, and no two modules import each other.

The Pachyderm engine (``pps``) and the grid core (``gridcore``) are usable from step scripts,
``dvctl`` and other orchestrators, so they must import with Dagster absent; and imports point
one way, so a reader can follow any module down to the store without meeting it again.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster_versioned

PACKAGE = Path(dagster_versioned.__file__).parent
ENGINES = ("dagster_versioned.pps", "dagster_versioned.gridcore", "dagster_versioned.store")


def _modules(package: str) -> list[str]:
    path = PACKAGE.parent / package.replace(".", "/")
    return [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(path)])]


def test_the_engines_import_every_module_with_dagster_blocked():
    names = [m for pkg in ENGINES for m in _modules(pkg)]
    script = textwrap.dedent(
        f"""
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                if top == "dagster" or (top.startswith("dagster_") and top != "dagster_versioned"):
                    raise ImportError(f"{{name}} is blocked in this test")
                return None

        sys.meta_path.insert(0, Block())
        for name in {names!r}:
            importlib.import_module(name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "dagster")
        assert not loaded, loaded
        print(len({names!r}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(names) > 30


def _import_graph() -> dict[str, set[str]]:
    """Module → package modules it imports, anywhere in it (an import inside a function is a
    circle deferred, not removed); only ``TYPE_CHECKING`` blocks are left out."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        deps: set[str] = set()
        tree = ast.parse(path.read_text())
        skipped = {
            id(n)
            for top in ast.walk(tree)
            if isinstance(top, ast.If) and "TYPE_CHECKING" in ast.unparse(top.test)
            for n in ast.walk(top)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("dagster_versioned"):
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        deps.add(
                            sub
                            if (PACKAGE.parent / sub.replace(".", "/")).exists()
                            or (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                            else node.module
                        )
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("dagster_versioned")}
        graph[name] = {d for d in deps if d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_two_modules_of_the_package_import_each_other():
    graph = _import_graph()
    # a package's __init__ importing its own modules is how re-exports work, not a circle
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".") and d != "dagster_versioned"}

    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_nothing_above_the_store_touches_its_backend():
    """The store owns every byte: engines and glue use ``Store.records`` and the store's
    operations, so an attribute named ``backend`` is read only inside store/ and testing/."""
    offenders = []
    for path in _package_files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("store/", "testing/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "backend":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_every_module_has_one_job_and_stays_under_450_lines():
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in _package_files()
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert long == {}


def test_the_store_is_composed_not_inherited():
    from dagster_versioned.store import Store

    assert len(Store.__mro__) - 1 <= 2  # Store itself, at most one base, then object
