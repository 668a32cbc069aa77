"""`make new-section`: the README's walkthrough for adding a section, followed literally."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from course_tools import ROOT


def _course_copy(tmp_path: Path) -> Path:
    """The repository's files as git knows them (tracked and new), beside the same virtual environment."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    root = tmp_path / "course"
    for rel in listed:
        if (ROOT / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, root / rel)
    # The same environment, entry by entry, with an install stamp of its own that is newer than the
    # copied requirements: `make` must never reinstall, since `pip install -e .` from the copy would
    # point the shared environment's course_utils at this temporary folder.
    venv = root / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name != ".installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed").touch()
    # A day ahead: newer than any file a step edits, so that no step's `make` ever reinstalls there.
    day_ahead = time.time() + 86_400
    os.utime(venv / ".installed", (day_ahead, day_ahead))
    return root


def _installed_course_utils() -> str:
    """Where the environment's course_utils lives, asked from outside any checkout."""
    return subprocess.run([str(ROOT / ".venv/bin/python"), "-c", "import course_utils; print(course_utils.__file__)"],
                          cwd="/", capture_output=True, text=True).stdout.strip()


@pytest.mark.integration
def test_the_readme_walkthrough_makes_a_section_that_passes_its_checks(tmp_path):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the course's .venv (make install)")
    root = _course_copy(tmp_path)
    readme = (ROOT / "README.md").read_text()
    steps = ['make new-section N=08 SLUG=my_topic TITLE="My topic"', "make notebooks S=08",
             "make check-section S=08"]
    for step in steps:
        assert step in readme, f"the README's walkthrough no longer says `{step}`"
    # PYTHONPATH: kernels started in the copy import its course_utils, not the installed checkout's.
    env = {**os.environ, "PYTHONPATH": str(root)}
    installed = _installed_course_utils()
    for step in steps:
        done = subprocess.run(step, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"`{step}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "section 08: every check passed" in done.stdout
    assert _installed_course_utils() == installed, "the walkthrough reinstalled the shared environment"
    assert "| 08 | [`08_my_topic`]" in (root / "README.md").read_text()
    collected = subprocess.run([str(root / ".venv/bin/python"), "-m", "pytest", "--collect-only", "-q",
                                "tests/browser"], cwd=root, env=env, capture_output=True, text=True)
    assert "08_my_topic" in collected.stdout, "the browser tests must pick up a new section on their own"
