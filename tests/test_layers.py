"""The layers point one way: the reference math imports no plotting, widget or grading code,
and grading never needs a screen."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import course_utils

MATH = sorted(
    m.name for m in pkgutil.iter_modules(course_utils.__path__)
    if not m.ispkg and m.name not in ("build", "grade", "syllabus", "new_section")  # tools, not math
)
SCREEN = ("matplotlib", "ipywidgets", "IPython.display")


def _imported_after(statement: str, names) -> list[str]:
    code = f"import sys; {statement}; print(*[n for n in {list(names)!r} if n in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_reference_math_imports_no_plotting_widgets_or_grading():
    forbidden = (*SCREEN, "course_utils.plotting", "course_utils.widgets", "course_utils.grading")
    statement = "import " + ", ".join(f"course_utils.{m}" for m in MATH)
    assert _imported_after(statement, forbidden) == []


def test_grading_imports_no_plotting_or_widgets():
    forbidden = (*SCREEN, "course_utils.plotting", "course_utils.widgets")
    modules = "course_utils.grading, course_utils.grade, course_utils.autograde.gradebook"
    assert _imported_after(f"import {modules}", forbidden) == []


def test_the_math_modules_are_found():
    assert {"divergences", "elbo", "latent", "mixtures", "importance"} <= set(MATH)
