"""Graded exercises: checks, the notebook-facing ``check`` and ``score_table``.

Grading never needs a screen: it imports the reference math, not the plots or
widgets. Each section's ``checks`` module (``course_utils/s01_kl_elbo/checks.py``)
registers its exercises when this package is imported; they are found on disk,
so a new section needs no list.
"""

from __future__ import annotations

from ..core.registry import discover
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
from .notebook import check, hint, score_table

__all__ = [
    "CheckFailed",
    "Exercise",
    "Result",
    "StudentError",
    "check",
    "exercises",
    "get",
    "grade_namespace",
    "hint",
    "run_check",
    "score_table",
    "sections",
]

discover("checks")
