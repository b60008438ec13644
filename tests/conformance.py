"""Real payloads nobody here wrote (Meta's schemas, documented send bodies, webhooks, the error table), read
from ``../shared/conformance`` beside the checkout at test time. Absent on a user's clone: the tests that need
them are skipped, saying why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"


def path(*parts: str) -> Path:
    """A file of the conformance data; skips the test when the data is not beside the checkout."""
    if not ROOT.is_dir():
        pytest.skip(f"conformance data not found at {ROOT} (it sits beside the checkout in CI only)")
    return ROOT.joinpath(*parts)


def load(*parts: str) -> Any:
    return json.loads(path(*parts).read_text())


def names(folder: str, suffix: str = ".json") -> list[str]:
    """File names in a conformance folder (empty when the data is absent: the parametrized test skips)."""
    where = ROOT / folder
    return (
        sorted(p.name for p in where.glob(f"*{suffix}") if not p.name.startswith("_"))
        if where.is_dir()
        else []
    )
