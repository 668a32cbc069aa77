"""make targets keep students' work: `make clean` removes caches and build outputs, never a notebook."""

from __future__ import annotations

import shutil
import subprocess

from course_tools import ROOT


def test_make_clean_never_deletes_a_notebook(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    kept = []
    for folder in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
        kept += sorted((tmp_path / folder).iterdir())
    mine = tmp_path / "exercises" / "my_own_notes.ipynb"
    mine.write_text("{}")
    kept.append(mine)
    (tmp_path / "exercises" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "bench.json").write_text("{}")
    (tmp_path / "grades").mkdir()
    gradebook = tmp_path / "grades" / "gradebook.csv"
    gradebook.write_text("student,total\n")
    kept.append(gradebook)
    (tmp_path / "course_utils" / "__pycache__").mkdir(parents=True)
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert all(p.exists() for p in kept)
    assert not (tmp_path / "build").exists()
    assert not (tmp_path / "course_utils" / "__pycache__").exists()
    assert not (tmp_path / "exercises" / ".ipynb_checkpoints").exists()


def test_readme_starts_with_the_two_commands_and_ci_runs_make_check():
    readme = (ROOT / "README.md").read_text()
    start = readme[: readme.index("## Syllabus")]
    assert "make lab" in start and "make check" in start
    assert "make check" in (ROOT / ".ci" / "run").read_text()


def test_make_grade_without_a_folder_says_how_to_call_it():
    proc = subprocess.run(["make", "--no-print-directory", "grade"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "usage: make grade SUBMISSIONS=folder|moodle.zip|canvas.zip|nbgrader-course" in proc.stderr
    merge = subprocess.run(["make", "--no-print-directory", "grade-merge"], cwd=ROOT, capture_output=True, text=True)
    assert merge.returncode != 0 and 'usage: make grade-merge SHARDS="grades/shard-*"' in merge.stderr


def test_make_grade_passes_regrade_shard_and_roster_on(tmp_path):
    """REGRADE=all grades everyone again; REGRADE=<id> one student, with a reason; the rest pass through."""
    def dry(*assignments: str) -> str:
        proc = subprocess.run(["make", "--no-print-directory", "-n", "grade", f"SUBMISSIONS={tmp_path}/c.zip",
                               *assignments], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    assert "--regrade " in dry("REGRADE=all") and "--regrade-student" not in dry("REGRADE=1")
    line = dry("REGRADE=5001", "REASON=typo in 1.3", "SHARD=2/4", "ROSTER=r.csv", "CONFIG=c.toml")
    for part in ('--regrade-student "5001"', '--reason "typo in 1.3"', "--shard 2/4", '--roster "r.csv"',
                 '--config "c.toml"'):
        assert part in line, line
