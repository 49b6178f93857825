"""Import every module that defines tables, so Base.metadata is complete (Alembic, create_all)."""
from __future__ import annotations

import importlib

from storage import models  # noqa: F401

OPTIONAL_MODEL_MODULES = ("storage.models_scorecard",)

for _name in OPTIONAL_MODEL_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a module not in this build
        if exc.name != _name:
            raise
