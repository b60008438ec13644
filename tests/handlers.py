"""Import a function's handler module (functions/<name>/app.py) the way Lambda does: by file path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


def load_handler(name: str) -> ModuleType:
    """A fresh import of ``functions/<name>/app.py`` (call after the environment is set)."""
    module_name = f"function_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
