"""What importing costs at run time, which the import-linter contracts (static) cannot see: no section's plots
or widgets import pyplot until a static figure is drawn, and a demo builds without pyplot or the grading code.

Each case runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(code: str, names: tuple[str, ...]) -> dict[str, bool]:
    probe = f"import json, sys\n{code}\nprint(json.dumps({{n: n in sys.modules for n in {names!r}}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_every_sections_plots_and_widgets_imports_no_pyplot():
    code = ("from course_utils.core.registry import discover\n"
            "discover('plots'); discover('widgets')")
    assert _loaded_after(code, ("matplotlib.pyplot", "course_utils.grading")) == {
        "matplotlib.pyplot": False, "course_utils.grading": False}


@pytest.mark.parametrize("section", ["01", "07"])
def test_a_demo_builds_without_pyplot_or_grading(section):
    code = f"from course_utils.ui.demos import demos\ndemos('{section}')[0].build()"
    assert _loaded_after(code, ("matplotlib.pyplot", "course_utils.grading")) == {
        "matplotlib.pyplot": False, "course_utils.grading": False}


def test_grading_imports_no_screen_library():
    code = "import course_utils.grading, course_tools.grade"
    assert _loaded_after(code, ("matplotlib", "ipywidgets")) == {"matplotlib": False, "ipywidgets": False}
