"""The layer's shape: dependencies point one way (rules <- store <- capabilities <- handlers), and modules stay
small enough to read (layers/shared/mmcore/README.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MMCORE = ROOT / "layers" / "shared" / "mmcore"

# Lower levels never import higher ones. Modules outside these packages (settings, clients, observability,
# exceptions, api) are shared plumbing; api (the HTTP edge) is for handlers and the OpenAPI examples only.
LEVEL = {
    "meta": 0,
    "store": 1,
    "graph": 2,
    "sending": 3,
    "webhooks": 3,
    "campaigns": 3,
    "optimizations": 3,
    "templates": 3,
}
MODULE_LINES_MAX = 450


def modules() -> list[Path]:
    return sorted(p for p in MMCORE.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(path: Path) -> str:
    return path.relative_to(MMCORE).parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """The first part under ``mmcore`` of everything ``path`` imports (``mmcore.store.keys`` -> ``store``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mmcore":
            parts = node.module.split(".")
            found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("mmcore."))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(MMCORE)))
def test_dependencies_point_one_way(path: Path) -> None:
    level = LEVEL.get(package_of(path))
    for target in imported(path):
        if target == "api" and path.name != "examples.py":  # OpenAPI examples show the HTTP error body
            pytest.fail(f"{path.name} imports mmcore.api: the HTTP edge is for handlers")
        if level is not None and LEVEL.get(target, -1) > level:
            pytest.fail(
                f"{path.relative_to(MMCORE)} ({package_of(path)}) imports mmcore.{target}, a higher level"
            )
        if level is not None and level == LEVEL.get(target) == 3 and target != package_of(path):
            pytest.fail(
                f"{path.relative_to(MMCORE)} imports the capability mmcore.{target}: share through store"
            )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(MMCORE)))
def test_modules_stay_readable(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MODULE_LINES_MAX, f"{path.relative_to(MMCORE)} has {lines} lines: split it by concern"
