"""The packages' boundaries (docs/architecture.md, "Packages"): the knowledge base stands alone,
and no module imports another that (through its own imports) imports it back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("knowledge_base", "actions", "handoff")
FORBIDDEN = {"knowledge_base": ("handoff", "actions"), "actions": (), "handoff": ()}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def files_of(package: str) -> list[Path]:
    """The package's modules (Alembic's revision scripts are run by Alembic, never imported)."""
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


def modules_of(package: str) -> list[str]:
    return [module_name(p) for p in files_of(package) if p.stem != "__main__"]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_alone_in_a_fresh_interpreter(package: str) -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules_of(package)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & set(FORBIDDEN[package]), f"{package} loads {sorted(loaded & set(FORBIDDEN[package]))}"


def module_level_imports(path: Path) -> set[str]:
    """Our modules that `path` imports when it is loaded (imports inside functions are deferred).
    A module importing from its own package (`from handoff.metrics import figures` inside
    handoff.metrics) imports the sibling, not the package's __init__, which is already running."""
    me = module_name(path)
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module != me and not me.startswith(node.module + "."):
                found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    ours = {module_name(f) for p in PACKAGES for f in files_of(p)}
    return found & ours


def test_there_is_no_import_cycle() -> None:
    graph = {module_name(f): module_level_imports(f) for p in PACKAGES for f in files_of(p)}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("package", [p for p in PACKAGES if FORBIDDEN[p]])
def test_no_import_anywhere_in_a_package_crosses_its_boundary(package: str) -> None:
    """Deferred imports inside functions count too (`kb gaps` once opened the hub's store)."""
    crossing = []
    for path in files_of(package):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            crossing += [f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN[package]]
    assert crossing == []
