"""Graded exercises: checks, the notebook-facing ``check`` and ``score_table``.

Grading never needs a screen: it imports the reference math, not the plots or
widgets. Section modules (``sectionNN.py``) register their exercises when this
package is imported; they are found on disk, so a new section needs no list.
"""

from __future__ import annotations

import importlib
import pkgutil

from .core import (
    CheckFailed,
    Exercise,
    Result,
    StudentError,
    exercises,
    get,
    grade_namespace,
    run_check,
    sections,
)
from .notebook import check, score_table

__all__ = [
    "CheckFailed",
    "Exercise",
    "Result",
    "StudentError",
    "check",
    "exercises",
    "get",
    "grade_namespace",
    "run_check",
    "score_table",
    "sections",
]

for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("section"):
        importlib.import_module(f"{__name__}.{_info.name}")
