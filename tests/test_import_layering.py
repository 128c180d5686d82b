"""The package's imports run one way: data -> models -> evaluation -> training -> viz -> (cli, widgets).

Every module under stnutils/ is parsed with ``ast`` (nothing is imported) and each of its
imports of the package (relative, or absolute ``stnutils.``) is resolved to the part it
reaches. validation, io and provenance are the base every part may use.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stnutils"
BASE = {"validation", "io", "provenance"}
LAYERS = ["data", "models", "evaluation", "training", "viz"]
TOP = {"cli", "widgets"}

#: What each part may import (besides itself).
ALLOWED = {
    "validation": set(),
    "io": set(),
    "provenance": {"validation"},
    "data": {"validation", "io"},
    "models": {"data"} | BASE,
    "evaluation": {"data", "models"} | BASE,
    "training": {"data", "models", "evaluation"} | BASE,
    "viz": {"data", "models", "evaluation"} | BASE,  # figures never train
    "cli": set(LAYERS) | BASE,
    "widgets": set(LAYERS) | BASE,
}
#: The package root (``stnutils/__init__.py``) and ``python -m stnutils`` may import anything.
ANYTHING = {"__init__", "__main__"}


def _module_name(path: Path) -> list:
    """``stnutils/viz/glimpses.py`` -> ``["stnutils", "viz", "glimpses"]`` (a package: its folder)."""
    parts = ["stnutils", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(source: str, path: Path) -> list:
    """The absolute ``stnutils...`` modules that ``source`` (the file at ``path``) imports, with line numbers."""
    name = _module_name(path)
    package = name if _is_package(path) else name[:-1]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name.split("."), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module.split(".")
            else:
                if node.level - 1 > len(package) - 1:
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the package")
                base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            if node.module is None:  # from . import a, b: each name is a module of that package
                found += [(base + [alias.name], node.lineno) for alias in node.names]
            else:
                found.append((base, node.lineno))
    return [(".".join(m), line) for m, line in found if m[0] == "stnutils"]


def _part(module: str) -> str:
    """The part of the package a module belongs to: ``stnutils.models.tps`` -> ``models``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(path: Path, source: str) -> list:
    if path.parent == PACKAGE and path.name in ("__init__.py", "__main__.py"):
        return []  # the package root and python -m stnutils
    own = _part(".".join(_module_name(path)))
    if own in ANYTHING:
        return []
    allowed = ALLOWED[own] | {own}
    return [f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {module}"
            for module, line in imported_modules(source, path) if _part(module) not in allowed]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_is_known_and_parsed():
    parts = {_part(".".join(_module_name(p))) for p in MODULES
             if not (p.parent == PACKAGE and p.name in ("__init__.py", "__main__.py"))}
    assert set(LAYERS) | {"validation", "io", "provenance", "cli"} <= parts
    assert parts <= set(ALLOWED), parts - set(ALLOWED)  # a new part must be placed in the layering
    assert len(MODULES) > 30


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down_the_layering(path):
    assert violations(path, path.read_text(encoding="utf-8")) == []


def test_data_imports_nothing_of_the_package_but_validation_and_io():
    for path in (PACKAGE / "data").rglob("*.py"):
        parts = {_part(m) for m, _ in imported_modules(path.read_text(encoding="utf-8"), path)}
        assert parts <= {"data", "validation", "io"}, (path, parts)


def test_the_checker_resolves_relative_imports_and_catches_upward_ones():
    viz = PACKAGE / "viz" / "example.py"
    assert imported_modules("from ..training.loop import fit\nfrom . import images\n", viz) == [
        ("stnutils.training.loop", 1), ("stnutils.viz.images", 2)]
    assert violations(viz, "from ..training import fit\n") == [
        "stnutils/viz/example.py:1: viz imports stnutils.training"]
    assert violations(viz, "def f():\n    from stnutils.cli import main\n") == [
        "stnutils/viz/example.py:2: viz imports stnutils.cli"]  # absolute and inside a function too
    assert violations(viz, "from ..evaluation.results import group_rows\nfrom ..io import write_json\n") == []
    models = PACKAGE / "models" / "example.py"
    assert violations(models, "from ..evaluation import loop\n") == [
        "stnutils/models/example.py:1: models imports stnutils.evaluation"]
    assert violations(models, "from .. import viz\n") == ["stnutils/models/example.py:1: models imports stnutils.viz"]
    data_pkg = PACKAGE / "data" / "__init__.py"
    assert imported_modules("from .datasets import NoisyMNIST28\nfrom ..models import LeNet\n", data_pkg) == [
        ("stnutils.data.datasets", 1), ("stnutils.models", 2)]
    assert violations(data_pkg, "from ..provenance import git_commit\n") == [
        "stnutils/data/__init__.py:1: data imports stnutils.provenance"]
    training = PACKAGE / "training" / "example.py"
    assert violations(training, "from ..viz import plot_history\n") == [
        "stnutils/training/example.py:1: training imports stnutils.viz"]
    evaluation = PACKAGE / "evaluation" / "example.py"
    assert violations(evaluation, "from ..training.schedules import SCHEDULES\n") == [
        "stnutils/evaluation/example.py:1: evaluation imports stnutils.training.schedules"]
    assert violations(PACKAGE / "validation.py", "from .models import LeNet\n") == [
        "stnutils/validation.py:1: validation imports stnutils.models"]
